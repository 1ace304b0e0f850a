"""The like service."""
