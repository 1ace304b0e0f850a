"""What a valid account looks like: usernames, display names, bios and passwords.

Pure functions, so the rules are unit-tested without a server and shared by every handler. Display
names and bios follow the runtime's one text rule (a bio may have newlines); passwords are exempt
from it (they are only ever hashed, never shown).
"""

from __future__ import annotations

import re

from services.runtime.text import text_problem

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


def display_name_problem(display_name: str) -> str | None:
    return text_problem(display_name, MAX_DISPLAY_NAME_CHARS)


def bio_problem(bio: str) -> str | None:
    return text_problem(bio, MAX_BIO_CHARS, multiline=True)


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_CHARS:
        return f"must be at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"must be at most {MAX_PASSWORD_CHARS} characters"
    return None
