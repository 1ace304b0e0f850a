"""The view service."""
