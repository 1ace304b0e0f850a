"""The comment service."""
