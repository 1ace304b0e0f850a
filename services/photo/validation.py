"""Limits on what an upload's metadata may say; every bad field is named in one answer."""

from __future__ import annotations

from services.runtime.callctx import UNSET_MEANS_CALLER
from services.runtime.errors import InvalidArgument, Violations
from services.runtime.requests import timestamp_or_now
from shutter.photo.v1 import photo_pb2

MAX_TITLE_CHARS = 300
MAX_LOCATION_CHARS = 200
MAX_TAGS = 30
MAX_TAG_CHARS = 100
MAX_IDEMPOTENCY_KEY_CHARS = 128
MAX_BATCH_IDS = 100


def validate_metadata(metadata: photo_pb2.PhotoMetadata) -> None:
    """INVALID_ARGUMENT naming each offending field (`metadata.title`, `metadata.tags[3]`, …).

    Every text field is single-line and follows the runtime's text rule (no control characters, …).
    """
    violations = Violations()
    violations.check(metadata.user_id >= 0, "metadata.user_id", UNSET_MEANS_CALLER)
    violations.check_text("metadata.title", metadata.title, MAX_TITLE_CHARS)
    violations.check_text("metadata.location", metadata.location, MAX_LOCATION_CHARS)
    violations.check(len(metadata.tags) <= MAX_TAGS, "metadata.tags", f"must have at most {MAX_TAGS} tags")
    for index, tag in enumerate(metadata.tags):
        if not tag.strip():
            violations.add(f"metadata.tags[{index}]", "must not be blank")
        else:
            violations.check_text(f"metadata.tags[{index}]", tag, MAX_TAG_CHARS)
    violations.check_text("metadata.idempotency_key", metadata.idempotency_key, MAX_IDEMPOTENCY_KEY_CHARS)
    try:
        timestamp_or_now(metadata.time_stamp, "metadata.time_stamp")
    except InvalidArgument as exc:
        violations.extend(exc.violations)
    violations.raise_if_any()


def validate_photo_ids(photo_ids: list[int]) -> list[int]:
    """Distinct ids in request order, at most MAX_BATCH_IDS."""
    if len(photo_ids) > MAX_BATCH_IDS:
        raise InvalidArgument("photo_ids", f"must have at most {MAX_BATCH_IDS} ids")
    violations = Violations()
    for index, photo_id in enumerate(photo_ids):
        violations.check(photo_id > 0, f"photo_ids[{index}]", "must be a positive id")
    violations.raise_if_any()
    return list(dict.fromkeys(photo_ids))
