import base64
import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.errors import InvalidArgument, Violations
from services.runtime.requests import (
    INT64_MAX,
    CursorField,
    PageTokens,
    page_size,
    require_id,
    timestamp_or_now,
)
from shutter.photo.v1 import photo_pb2

SECRET = "unit-test-secret-" + "s" * 32
PAGES = PageTokens(SECRET)
LISTING = photo_pb2.ListUserPhotosRequest
CURSOR = {"before": CursorField.ID, "at": CursorField.COUNT, "query": CursorField.TEXT}


def _request(token: str, listing: type[Message] = LISTING) -> Any:
    return listing(page_token=token)


def _signed(position: object, listing: type[Message] = LISTING, pages: PageTokens = PAGES) -> str:
    return pages.encode(listing(), position)  # type: ignore[arg-type]


def _refused_tokens() -> dict[str, str]:
    """Every way a token can fail to be one this listing issued."""
    issued = _signed({"before": 5, "at": 0, "query": "q"})
    raw = base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4))
    tag, payload = raw[:32], raw[32:]
    forged = hmac.new(b"guessed key", b"", hashlib.sha256).digest() + payload.replace(b"5", b"6")

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return {
        "crafted-deep-json": b64(b"[" * 5000 + b"]" * 5000),  # the RecursionError of issue 14
        "crafted-unsigned-position": b64(json.dumps({"before": 5, "at": 0, "query": "q"}).encode()),
        "not-base64": "!!!",
        "non-ascii": "tökén",
        "junk-inside-base64": issued[:10] + "*" + issued[10:],
        "padding": issued + "==",
        "truncated": issued[:-3],
        "tag-only": b64(tag),
        "too-short": b64(tag[:10]),
        "altered-position": b64(tag + payload.replace(b"5", b"6")),
        "altered-tag": b64(bytes([tag[0] ^ 1]) + tag[1:] + payload),
        "forged-tag": b64(forged),
        "wrong-key": _signed({"before": 5, "at": 0, "query": "q"}, pages=PageTokens("another-secret")),
        "other-listing": _signed({"before": 5, "at": 0, "query": "q"}, listing=photo_pb2.BatchGetPhotosRequest),
        "huge": "A" * 5000,
    }


def test_page_token_round_trips_and_is_opaque_and_url_safe() -> None:
    token = _signed({"before": 123456789012345, "at": 7, "query": "x"})
    assert "before" not in token
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert PAGES.decode(_request(token), CURSOR) == {"before": 123456789012345, "at": 7, "query": "x"}
    assert PAGES.decode(_request(""), CURSOR) is None


def test_every_replica_with_the_same_secret_reads_the_token() -> None:
    token = _signed({"before": 9, "at": 1, "query": ""})
    assert PageTokens(SECRET).decode(_request(token), CURSOR) == {"before": 9, "at": 1, "query": ""}


@pytest.mark.parametrize("name", list(_refused_tokens()))
def test_a_token_this_listing_did_not_issue_is_invalid_argument_on_page_token(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        PAGES.decode(_request(_refused_tokens()[name]), CURSOR)
    assert caught.value.violations == [("page_token", "is not a page token this listing issued")]


def test_the_tag_is_checked_before_the_position_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[bytes] = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda data: parsed.append(data) or real_loads(data))
    for token in _refused_tokens().values():
        with pytest.raises(InvalidArgument):
            PAGES.decode(_request(token), CURSOR)
    assert parsed == []


def test_cursor_returns_exactly_its_fields_at_the_int64_edges() -> None:
    token = _signed({"before": INT64_MAX, "at": 0, "query": "abc", "extra": [1]})
    assert PAGES.decode(_request(token), CURSOR) == {"before": 2**63 - 1, "at": 0, "query": "abc"}
    assert PAGES.decode(_request(_signed({"before": 1, "at": INT64_MAX, "query": ""})), CURSOR) == {
        "before": 1,
        "at": INT64_MAX,
        "query": "",
    }


@pytest.mark.parametrize(
    "position",
    [
        {"before": "5", "at": 0, "query": "q"},  # a string where an int goes
        {"before": [5], "at": 0, "query": "q"},
        {"before": None, "at": 0, "query": "q"},
        {"before": True, "at": 0, "query": "q"},  # bool is not an int here
        {"before": 1, "at": False, "query": "q"},
        {"before": 5.0, "at": 0, "query": "q"},
        {"before": 1, "at": 1e3, "query": "q"},
        {"before": 0, "at": 0, "query": "q"},  # ids start at 1
        {"before": -5, "at": 0, "query": "q"},
        {"before": 1, "at": -1, "query": "q"},
        {"before": 2**63, "at": 0, "query": "q"},  # past int64
        {"before": 2**70, "at": 0, "query": "q"},
        {"before": 1, "at": 2**63, "query": "q"},
        {"before": 1, "at": 0, "query": 7},  # an int where text goes
        {"before": 1, "at": 0, "query": {"a": 1}},
        {"before": 1, "at": 0},  # a field missing
        {"x": "y"},
        [1, 2],
        "before",
    ],
)
def test_a_signed_but_malformed_cursor_is_still_invalid_argument(position: object) -> None:
    """Defence in depth: even a position we signed (a bug, a leaked key) is checked before a store sees it."""
    with pytest.raises(InvalidArgument) as caught:
        PAGES.decode(_request(_signed(position)), CURSOR)
    assert caught.value.violations == [("page_token", "is not a page token this listing issued")]


def test_page_size_defaults_caps_and_rejects_negative() -> None:
    assert page_size(0) == 20
    assert page_size(5) == 5
    assert page_size(10_000) == 100
    with pytest.raises(InvalidArgument, match="page_size"):
        page_size(-1)


def test_require_id() -> None:
    assert require_id(5, "photo_id") == 5
    with pytest.raises(InvalidArgument, match="photo_id"):
        require_id(0, "photo_id")


def test_timestamp_defaults_to_now_and_rejects_far_future() -> None:
    assert timestamp_or_now(Timestamp(), "time_stamp").seconds > 1_700_000_000
    with pytest.raises(InvalidArgument, match="time_stamp"):
        timestamp_or_now(Timestamp(seconds=40_000_000_000), "time_stamp")


def test_violations_collect_every_field() -> None:
    violations = Violations()
    violations.check(True, "ok", "fine")
    violations.check(False, "title", "too long")
    violations.check(False, "tags[3]", "too long")
    with pytest.raises(InvalidArgument) as caught:
        violations.raise_if_any()
    assert caught.value.violations == [("title", "too long"), ("tags[3]", "too long")]
    status = caught.value.to_status()
    assert status.code.name == "INVALID_ARGUMENT"
    assert any(key == "grpc-status-details-bin" for key, _ in status.trailing_metadata)
