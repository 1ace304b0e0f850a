"""Upload metadata limits: every bad field is named."""

from __future__ import annotations

import pytest

from services.photo.validation import MAX_BATCH_IDS, validate_metadata, validate_photo_ids
from services.runtime.errors import InvalidArgument
from shutter.photo.v1 import photo_pb2


def _fields(metadata: photo_pb2.PhotoMetadata) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        validate_metadata(metadata)
    return [field for field, _ in caught.value.violations]


def test_good_metadata_passes() -> None:
    validate_metadata(photo_pb2.PhotoMetadata(user_id=1, title="t" * 300, location="l" * 200, tags=["x" * 100] * 30))


def test_each_bad_field_is_named() -> None:
    bad = photo_pb2.PhotoMetadata(
        user_id=-1,  # 0 (unset) is the caller
        title="t" * 301,
        location="l" * 201,
        tags=["ok", "", "fine", "x" * 101],
        idempotency_key="k" * 129,
    )
    bad.time_stamp.seconds = -(10**12)
    assert _fields(bad) == [
        "metadata.user_id",
        "metadata.title",
        "metadata.location",
        "metadata.tags[1]",
        "metadata.tags[3]",
        "metadata.idempotency_key",
        "metadata.time_stamp",
    ]


def test_too_many_tags() -> None:
    assert _fields(photo_pb2.PhotoMetadata(user_id=1, tags=["a"] * 31)) == ["metadata.tags"]


def test_batch_ids_are_capped_checked_and_deduplicated_in_order() -> None:
    assert validate_photo_ids([3, 1, 3, 2]) == [3, 1, 2]
    with pytest.raises(InvalidArgument, match=r"photo_ids\[1\]"):
        validate_photo_ids([1, -5])
    with pytest.raises(InvalidArgument, match="at most"):
        validate_photo_ids(list(range(1, MAX_BATCH_IDS + 2)))


def test_text_fields_follow_the_one_text_rule() -> None:
    hostile = photo_pb2.PhotoMetadata(
        user_id=1,
        title="\x1b[31mred",
        location="nul\x00",
        tags=["fine", "two\nlines", "photo\u202egpj.exe"],
        idempotency_key="key\x7f",
    )
    assert _fields(hostile) == [
        "metadata.title",
        "metadata.location",
        "metadata.tags[1]",
        "metadata.tags[2]",
        "metadata.idempotency_key",
    ]
    validate_metadata(photo_pb2.PhotoMetadata(user_id=1, title="Zoë 🌸 東京", location="مرحبا", tags=["#café"]))
