"""`python -m services.notification` starts the notification service."""

from services.notification.service import build
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service("notification", build)
