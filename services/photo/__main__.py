"""`python -m services.photo` starts the photo service."""

from services.photo.service import build
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service("photo", build)
