"""`python -m services.follow` starts the follow service."""

from services.follow.service import build
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service("follow", build)
