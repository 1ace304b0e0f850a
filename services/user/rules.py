"""What a valid account looks like: usernames, display names, bios and passwords.

Pure functions, so the rules are unit-tested without a server and shared by every handler.
"""

from __future__ import annotations

import re

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.]{3,30}")
MAX_DISPLAY_NAME_CHARS = 64
MAX_BIO_CHARS = 500
MIN_PASSWORD_CHARS = 8
# argon2 accepts any length; a cap keeps one request from making the hasher chew megabytes.
MAX_PASSWORD_CHARS = 1024


def username_key(username: str) -> str:
    """The case-insensitive identity of a username (usernames are ASCII, so lower() is exact)."""
    return username.lower()


def username_problem(username: str) -> str | None:
    if not username:
        return "is required"
    if not USERNAME_PATTERN.fullmatch(username):
        return "must be 3 to 30 letters, digits, '_' or '.'"
    return None


def _has_control_characters(text: str, allow_newlines: bool = False) -> bool:
    return any((ord(c) < 32 and not (allow_newlines and c == "\n")) or ord(c) == 127 for c in text)


def display_name_problem(display_name: str) -> str | None:
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        return f"must be at most {MAX_DISPLAY_NAME_CHARS} characters"
    if _has_control_characters(display_name):
        return "must not contain control characters"
    return None


def bio_problem(bio: str) -> str | None:
    if len(bio) > MAX_BIO_CHARS:
        return f"must be at most {MAX_BIO_CHARS} characters"
    if _has_control_characters(bio, allow_newlines=True):
        return "must not contain control characters other than newlines"
    return None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_CHARS:
        return f"must be at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"must be at most {MAX_PASSWORD_CHARS} characters"
    return None
