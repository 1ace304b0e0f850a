"""Small request helpers every handler uses: ids, page sizes, opaque page tokens, timestamps."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


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
        raise InvalidArgument("page_token", "is not a token this service issued") from exc
    if not isinstance(position, dict) or any(key not in position for key in required):
        raise InvalidArgument("page_token", "is not a token this service issued")
    return position


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
