"""The feed service."""
