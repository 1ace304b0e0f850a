import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.errors import InvalidArgument, Violations
from services.runtime.requests import (
    INT64_MAX,
    CursorField,
    decode_cursor,
    decode_page_token,
    encode_page_token,
    page_size,
    require_id,
    timestamp_or_now,
)


def test_page_token_round_trips_and_is_opaque() -> None:
    token = encode_page_token({"before": 123456789012345, "k": "x"})
    assert "before" not in token
    assert decode_page_token(token, required=("before",)) == {"before": 123456789012345, "k": "x"}
    assert decode_page_token("") is None


@pytest.mark.parametrize("token", ["!!!", "bm90IGpzb24", encode_page_token({"other": 1})])
def test_foreign_page_token_is_invalid_argument_naming_the_field(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(token, required=("before",))
    assert caught.value.violations[0][0] == "page_token"


CURSOR = {"before": CursorField.ID, "at": CursorField.COUNT, "query": CursorField.TEXT}


def test_cursor_returns_exactly_its_fields_at_the_int64_edges() -> None:
    token = encode_page_token({"before": INT64_MAX, "at": 0, "query": "abc", "extra": [1]})
    assert decode_cursor(token, CURSOR) == {"before": 2**63 - 1, "at": 0, "query": "abc"}
    assert decode_cursor(encode_page_token({"before": 1, "at": INT64_MAX, "query": ""}), CURSOR) == {
        "before": 1,
        "at": INT64_MAX,
        "query": "",
    }
    assert decode_cursor("", CURSOR) is None


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
    ],
)
def test_crafted_cursor_is_invalid_argument_on_page_token(position: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_cursor(encode_page_token(position), CURSOR)
    assert caught.value.violations == [("page_token", "is not a token this service issued")]


@pytest.mark.parametrize("token", ["!!!", encode_page_token([1, 2]), encode_page_token("before")])
def test_cursor_that_is_not_a_json_object_is_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        decode_cursor(token, CURSOR)


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
