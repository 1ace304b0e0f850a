"""`python -m services.search` starts the search service."""

from services.runtime.server import run_service
from services.search.service import build

if __name__ == "__main__":
    run_service("search", build)
