"""Small request helpers every handler uses: ids, page sizes, opaque page tokens, timestamps."""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from google.protobuf.descriptor import Descriptor
from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# The int64 range of id columns: keyset cursors start from one end ("no cursor yet").
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_FOREIGN_TOKEN = "is not a page token this listing issued"
# Ours are under 200 characters; anything far longer is refused before it is even decoded.
MAX_PAGE_TOKEN_CHARS = 1024
_PAGE_TOKEN_KEY_CONTEXT = b"shutter page tokens v1"
_TAG_BYTES = hashlib.sha256().digest_size
# The decoder skips characters outside the alphabet; refusing them first keeps one token one string.
_URL_SAFE_BASE64 = re.compile(r"[A-Za-z0-9_-]+")


def require_id(value: int, field: str) -> int:
    if value <= 0:
        raise InvalidArgument(field, "must be a positive id")
    return value


def page_size(value: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """0 means the default; larger than the maximum is capped, as AIP-158 suggests."""
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(value or default, maximum)


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


class PagedRequest(Protocol):
    """A list request (AIP-158): its message type names the listing, page_token says where it resumes."""

    DESCRIPTOR: Descriptor
    page_token: str


class PageTokens:
    """Issues and reads page tokens: opaque, URL-safe, signed, and good only for the listing that issued them.

    A token is base64url(tag ‖ position), where position is a small JSON object and tag is
    HMAC-SHA256(key, listing ‖ NUL ‖ position). The key is derived from the process's signing secret,
    which every replica of every service shares, so a token stays good on any replica. The tag is
    checked (in constant time) before anything parses the position: a token we did not issue, cut
    short, altered, signed with another key or issued by another listing is INVALID_ARGUMENT on
    page_token, and hostile JSON (say 5,000 nested brackets) never reaches the parser. A changed
    secret invalidates outstanding tokens: clients start the listing again.

    The listing is the request message's full name (shutter.photo.v1.ListUserPhotosRequest), so a
    ListFollowers token cannot page ListFollowees, and ListUserPhotos tokens also page ViewUserPhotos,
    which passes them through. A position still binds what the listing is of (user, photo, query).
    """

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("page tokens need a signing secret")
        self._key = hmac.new(secret.encode(), _PAGE_TOKEN_KEY_CONTEXT, hashlib.sha256).digest()

    def _tag(self, listing: str, payload: bytes) -> bytes:
        return hmac.new(self._key, listing.encode() + b"\x00" + payload, hashlib.sha256).digest()

    def encode(self, request: PagedRequest, position: Mapping[str, Any]) -> str:
        """The token for the page after `position` of the listing `request` asked for."""
        payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
        token = self._tag(request.DESCRIPTOR.full_name, payload) + payload
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def decode(self, request: PagedRequest, fields: Mapping[str, CursorField]) -> dict[str, Any] | None:
        """The position in `request.page_token`: None for the first page, else exactly `fields`, each of its
        kind; INVALID_ARGUMENT on page_token for anything this listing did not issue."""
        if not request.page_token:
            return None
        payload = self._verified_payload(request.DESCRIPTOR.full_name, request.page_token)
        try:
            position = json.loads(payload)
        except (ValueError, RecursionError) as exc:  # signed by us, so only a bug gets here
            raise InvalidArgument("page_token", _FOREIGN_TOKEN) from exc
        # Signed positions are ours, but a cursor is still checked field by field before a store sees
        # it: a string or a 2**70 reaching SQLite or the CQL driver would be an INTERNAL error.
        if not isinstance(position, dict) or not all(
            name in position and _fits(position[name], kind) for name, kind in fields.items()
        ):
            raise InvalidArgument("page_token", _FOREIGN_TOKEN)
        return {name: position[name] for name in fields}

    def _verified_payload(self, listing: str, token: str) -> bytes:
        if len(token) > MAX_PAGE_TOKEN_CHARS or not _URL_SAFE_BASE64.fullmatch(token):
            raise InvalidArgument("page_token", _FOREIGN_TOKEN)
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidArgument("page_token", _FOREIGN_TOKEN) from exc
        tag, payload = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
        if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, self._tag(listing, payload)):
            raise InvalidArgument("page_token", _FOREIGN_TOKEN)
        return payload


def timestamp_from_unix_ms(unix_ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(unix_ms)
    return stamp


def now_ms() -> int:
    """Milliseconds since the epoch, the unit stores keep times in."""
    return int(time.time() * 1000)


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
