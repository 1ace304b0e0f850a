"""The follow service."""
