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
MAX_ALT_TEXT_CHARS = 1_500
MAX_CAPTION_CHARS = 2_200
MAX_IMAGES = 10


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
    violations.check_text("metadata.alt_text", metadata.alt_text, MAX_ALT_TEXT_CHARS, multiline=True)
    violations.check_text("metadata.caption", metadata.caption, MAX_CAPTION_CHARS, multiline=True)
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


EDITABLE_PATHS = ("title", "caption", "location", "tags", "alt_texts")


def validate_edit(request: photo_pb2.UpdatePhotoRequest) -> set[str]:
    """The paths an UpdatePhoto changes; INVALID_ARGUMENT naming each bad field among them."""
    violations = Violations()
    paths = set(request.update_mask.paths) or set(EDITABLE_PATHS)
    unknown = sorted(paths - set(EDITABLE_PATHS))
    violations.check(not unknown, "update_mask", f"unknown paths {unknown}; editable: {list(EDITABLE_PATHS)}")
    violations.check(request.photo_id > 0, "photo_id", "must be a positive id")
    if "title" in paths:
        violations.check_text("title", request.title, MAX_TITLE_CHARS)
    if "caption" in paths:
        violations.check_text("caption", request.caption, MAX_CAPTION_CHARS, multiline=True)
    if "location" in paths:
        violations.check_text("location", request.location, MAX_LOCATION_CHARS)
    if "tags" in paths:
        violations.check(len(request.tags) <= MAX_TAGS, "tags", f"must have at most {MAX_TAGS} tags")
        for index, tag in enumerate(request.tags):
            if not tag.strip():
                violations.add(f"tags[{index}]", "must not be blank")
            else:
                violations.check_text(f"tags[{index}]", tag, MAX_TAG_CHARS)
    if "alt_texts" in paths:
        for index, alt in enumerate(request.alt_texts):
            violations.check_text(f"alt_texts[{index}].alt_text", alt.alt_text, MAX_ALT_TEXT_CHARS, multiline=True)
    violations.raise_if_any()
    return paths


def validate_media_metadata(metadata: photo_pb2.MediaMetadata) -> None:
    """UploadMedia's first message: INVALID_ARGUMENT naming each offending field."""
    violations = Violations()
    violations.check_text("metadata.idempotency_key", metadata.idempotency_key, MAX_IDEMPOTENCY_KEY_CHARS)
    violations.check_text("metadata.alt_text", metadata.alt_text, MAX_ALT_TEXT_CHARS, multiline=True)
    violations.raise_if_any()


def validate_post(request: photo_pb2.CreatePostRequest) -> None:
    """CreatePost: the metadata as for an upload, and 1–MAX_IMAGES distinct media, each with valid alt text."""
    violations = Violations()
    try:
        validate_metadata(request.metadata)
    except InvalidArgument as exc:
        violations.extend(exc.violations)
    count = len(request.images)
    violations.check(0 < count <= MAX_IMAGES, "images", f"a post has 1 to {MAX_IMAGES} images, not {count}")
    seen: set[int] = set()
    for index, image in enumerate(request.images):
        if image.media_id <= 0:
            violations.add(f"images[{index}].media_id", "must be a positive id (from UploadMedia)")
        elif image.media_id in seen:
            violations.add(f"images[{index}].media_id", "names a medium already in this post")
        seen.add(image.media_id)
        violations.check_text(f"images[{index}].alt_text", image.alt_text, MAX_ALT_TEXT_CHARS, multiline=True)
    violations.raise_if_any()
