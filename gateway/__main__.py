"""`python -m gateway` serves the HTTP gateway with uvicorn."""

from gateway.app import main

if __name__ == "__main__":
    main()
