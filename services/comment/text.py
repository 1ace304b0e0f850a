"""What a comment's text may be: checked here once, so every path that stores text agrees."""

from __future__ import annotations

import unicodedata

from services.runtime.errors import InvalidArgument

MAX_TEXT_CHARS = 2200


def clean_text(text: str) -> str:
    """The text trimmed; INVALID_ARGUMENT naming "text" unless it is 1–2,200 characters of printable text.

    Newlines are allowed (multi-line comments); every other control character (tabs, carriage returns,
    escapes, NUL) is refused rather than silently stripped.
    """
    trimmed = text.strip()
    if not trimmed:
        raise InvalidArgument("text", "must not be empty")
    if len(trimmed) > MAX_TEXT_CHARS:
        raise InvalidArgument("text", f"must be at most {MAX_TEXT_CHARS} characters")
    if any(char != "\n" and unicodedata.category(char) == "Cc" for char in trimmed):
        raise InvalidArgument("text", "must not contain control characters other than newline")
    return trimmed
