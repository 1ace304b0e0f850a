"""`python -m services.view` starts the view service."""

from services.runtime.server import run_service
from services.view.service import build

if __name__ == "__main__":
    run_service("view", build)
