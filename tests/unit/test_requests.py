import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.errors import InvalidArgument, Violations
from services.runtime.requests import (
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
