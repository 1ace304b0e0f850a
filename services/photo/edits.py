"""UpdatePhoto: the owner changes a post's words (title, caption, location, tags, alt texts), never its pixels.

The new words and a PhotoEdited event commit together; search re-files the post from the event, and every
view replica drops its cached copy (services.view), so the edit shows within a second. The caption is parsed
again as on posting: its hashtags join the tags, its mentions are resolved (a mention of no one is refused).
"""

from __future__ import annotations

import dataclasses
import time

from services.photo.captions import Captions
from services.photo.store import ImageRecord, PhotoRecord, PhotoStore
from services.photo.validation import validate_edit
from services.runtime import callctx
from services.runtime.errors import NotFound, PermissionDenied, Violations, storage_faults
from services.runtime.events import new_meta
from services.runtime.ids import IdGenerator
from services.runtime.requests import timestamp_from_unix_ms
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2


class Editor:
    def __init__(self, store: PhotoStore, ids: IdGenerator, source: str, captions: Captions) -> None:
        self._store = store
        self._ids = ids
        self._source = source
        self._captions = captions

    async def edit(self, request: photo_pb2.UpdatePhotoRequest) -> PhotoRecord:
        paths = validate_edit(request)
        photo = await self._store.get(request.photo_id)
        if photo is None:
            raise NotFound(f"photo {request.photo_id} not found")
        if callctx.acting_user_id() != photo.user_id:
            raise PermissionDenied("only the photo's owner may edit it")
        caption = request.caption if "caption" in paths else photo.caption
        given_tags = list(request.tags) if "tags" in paths else list(photo.tags)
        tags, mentioned = await self._captions.parse(
            photo_pb2.PhotoMetadata(caption=caption, tags=given_tags), field="caption" if "caption" in paths else "tags"
        )
        edited = dataclasses.replace(
            photo,
            title=request.title if "title" in paths else photo.title,
            location=request.location if "location" in paths else photo.location,
            caption=caption,
            tags=tags,
            mentioned_user_ids=mentioned,
            images=_with_alt_texts(photo, request.alt_texts) if "alt_texts" in paths else photo.images,
            # Strictly increasing per photo, even within a millisecond or on a replica whose clock lags:
            # search never files an older version of a post over a newer one (services.search.store).
            edited_at_ms=max(int(time.time() * 1000), photo.edited_at_ms + 1),
        )
        with storage_faults("editing a photo"):
            stored = await self._store.update(edited, edited_event(edited, self._ids, self._source))
        if stored is None:  # deleted meanwhile
            raise NotFound(f"photo {request.photo_id} not found")
        return stored


def _with_alt_texts(photo: PhotoRecord, alt_texts: list[photo_pb2.ImageAltText]) -> tuple[ImageRecord, ...]:
    """The post's images with the named ones' alt text replaced; an id not in the post is named."""
    images = {image.media_id: image for image in photo.image_list()}
    violations = Violations()
    for index, alt in enumerate(alt_texts):
        if alt.media_id not in images:
            violations.add(f"alt_texts[{index}].media_id", "is not an image of this post")
        else:
            images[alt.media_id] = dataclasses.replace(images[alt.media_id], alt_text=alt.alt_text)
    violations.raise_if_any()
    return tuple(images.values())


def edited_event(photo: PhotoRecord, ids: IdGenerator, source: str) -> events_pb2.PhotoEdited:
    return events_pb2.PhotoEdited(
        meta=new_meta(ids, source),
        photo_id=photo.photo_id,
        user_id=photo.user_id,
        title=photo.title,
        location=photo.location,
        tags=list(photo.tags),
        caption=photo.caption,
        mentioned_user_ids=list(photo.mentioned_user_ids),
        created_at=timestamp_from_unix_ms(photo.created_at_ms),
        edited_at=timestamp_from_unix_ms(photo.edited_at_ms),
    )
