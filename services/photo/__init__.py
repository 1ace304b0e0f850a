"""The photo service."""
