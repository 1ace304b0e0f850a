"""What makes two uploads "the same request" for an idempotency key."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.photo.store import same_request
from services.photo.uploads import request_fingerprint
from shutter.photo.v1 import photo_pb2

BYTES_SHA = "ab" * 32


def _metadata(**changes: object) -> photo_pb2.PhotoMetadata:
    fields: dict[str, object] = {
        "user_id": 7,
        "title": "harbour",
        "location": "Oslo",
        "tags": ["sea", "boats"],
        "time_stamp": Timestamp(seconds=1_700_000_000),
        "idempotency_key": "k",
    }
    return photo_pb2.PhotoMetadata(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_same_metadata_and_bytes_give_the_same_fingerprint() -> None:
    assert request_fingerprint(_metadata(), BYTES_SHA) == request_fingerprint(_metadata(), BYTES_SHA)


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "harbour "},
        {"location": "Bergen"},
        {"tags": ["boats", "sea"]},  # order is part of what was sent
        {"tags": ["sea"]},
        {"tags": ["sea,boats"]},  # no join can make two tags look like one
        {"time_stamp": Timestamp(seconds=1_700_000_000, nanos=1)},
        {"time_stamp": Timestamp()},  # unset is not "now"
        {"user_id": 8},
    ],
)
def test_any_other_metadata_gives_another_fingerprint(changes: dict[str, object]) -> None:
    assert request_fingerprint(_metadata(**changes), BYTES_SHA) != request_fingerprint(_metadata(), BYTES_SHA)


def test_other_bytes_give_another_fingerprint() -> None:
    assert request_fingerprint(_metadata(), "cd" * 32) != request_fingerprint(_metadata(), BYTES_SHA)


def test_a_claim_recorded_before_fingerprints_counts_as_the_same_request() -> None:
    assert same_request("", "anything")
    assert same_request("f1", "f1")
    assert not same_request("f1", "f2")
