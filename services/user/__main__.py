"""`python -m services.user` starts the user service."""

from services.runtime.server import run_service
from services.user.service import build

if __name__ == "__main__":
    run_service("user", build)
