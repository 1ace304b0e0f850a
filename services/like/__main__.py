"""`python -m services.like` starts the like service."""

from services.like.service import build
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service("like", build)
