"""`python -m services.feed` starts the feed service."""

from services.feed.service import build
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service("feed", build)
