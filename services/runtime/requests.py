"""Small request helpers every handler uses: ids, page sizes, opaque page tokens, timestamps."""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
INT64_MAX = 2**63 - 1
_FOREIGN_TOKEN = "is not a token this service issued"


def require_id(value: int, field: str) -> int:
    if value <= 0:
        raise InvalidArgument(field, "must be a positive id")
    return value


def page_size(value: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """0 means the default; larger than the maximum is capped, as AIP-158 suggests."""
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(value or default, maximum)


def encode_page_token(position: dict[str, Any]) -> str:
    """Opaque to clients: base64url of a small JSON position."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, required: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """None for the first page; INVALID_ARGUMENT for a token we did not make."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument("page_token", _FOREIGN_TOKEN) from exc
    if not isinstance(position, dict) or any(key not in position for key in required):
        raise InvalidArgument("page_token", _FOREIGN_TOKEN)
    return position


class CursorField(enum.Enum):
    """What one cursor field must hold; integers must fit the int64 columns they are compared with."""

    ID = "id"  # an int in 1 … 2**63-1
    COUNT = "count"  # an int in 0 … 2**63-1 (a timestamp, an enum value)
    TEXT = "text"  # a string (a list name, a query fingerprint)


def _fits(value: object, kind: CursorField) -> bool:
    if kind is CursorField.TEXT:
        return isinstance(value, str)
    # bool is an int subclass; a cursor never holds one, so True must not pass as 1.
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return (1 if kind is CursorField.ID else 0) <= value <= INT64_MAX


def decode_cursor(token: str, fields: Mapping[str, CursorField]) -> dict[str, Any] | None:
    """None for the first page; else exactly `fields`, each of its kind, or INVALID_ARGUMENT on page_token.

    Tokens are unsigned, so a client can craft any JSON: every field is checked here, once, before a
    store sees it (a string or a 2**70 reaching SQLite or the CQL driver would be an INTERNAL error).
    """
    position = decode_page_token(token, tuple(fields))
    if position is None:
        return None
    if not all(_fits(position[name], kind) for name, kind in fields.items()):
        raise InvalidArgument("page_token", _FOREIGN_TOKEN)
    return {name: position[name] for name in fields}


def timestamp_from_unix_ms(unix_ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(unix_ms)
    return stamp


def now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def timestamp_or_now(stamp: Timestamp, field: str) -> Timestamp:
    """A client-supplied time, or now when unset; far-off values are rejected."""
    if not stamp.seconds and not stamp.nanos:
        return now_timestamp()
    try:
        when = stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(field, "is not a valid timestamp") from exc
    if not datetime(1970, 1, 1, tzinfo=UTC) <= when <= datetime(3000, 1, 1, tzinfo=UTC):
        raise InvalidArgument(field, "is out of range")
    return stamp
