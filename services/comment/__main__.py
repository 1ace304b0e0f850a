"""`python -m services.comment` starts the comment service."""

from services.comment.service import build
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service("comment", build)
