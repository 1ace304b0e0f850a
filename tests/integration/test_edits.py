"""Editing a post over real gRPC on the shared mesh: only its owner, only its words; the edit reaches reads,
views (whose cache drops the old copy on PhotoEdited) and search (which re-files the post, and keeps the
newest words when an older event comes late)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.runtime.events import EVENTS_STREAM, EventBus, message_id, subject_for
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, metadata, requests
from tests.support.rich_status import field_violations
from tests.support.search import ids, unique_word, until_ids
from tests.support.users import SignedUp, sign_up_many
from tests.support.waiting import eventually


def stub(mesh: Mesh) -> photo_pb2_grpc.PhotoServiceStub:
    return photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))


async def post(mesh: Mesh, author: SignedUp, title: str, tags: tuple[str, ...] = ()) -> photo_pb2.Photo:
    meta = metadata(author.user_id, title=title, tags=tags)
    reply = await stub(mesh).UploadPhoto(requests(meta, make_jpeg(24, 24)), metadata=author.metadata, timeout=30)
    return reply.photo


async def update(mesh: Mesh, who: SignedUp, **fields: object) -> photo_pb2.Photo:
    request = photo_pb2.UpdatePhotoRequest(**fields)  # type: ignore[arg-type]
    return (await stub(mesh).UpdatePhoto(request, metadata=who.metadata, timeout=10)).photo


async def test_the_owner_edits_the_words_and_reads_views_and_search_follow(mesh: Mesh) -> None:
    owner, ada = await sign_up_many(mesh, 2)
    old_word, new_word = unique_word(), unique_word()
    hashtag = "Harbour" + unique_word()  # unique: the session's mesh holds other tests' photos
    photo = await post(mesh, owner, f"first {old_word}", tags=("kept",))
    views = view_pb2_grpc.ViewServiceStub(mesh.channel("view"))
    view_request = view_pb2.ViewPhotoRequest(photo_id=photo.photo_id, user_id=ada.user_id)
    assert (await views.ViewPhoto(view_request, metadata=ada.metadata, timeout=10)).view.photo.title.startswith("first")
    await until_ids(mesh, ada, [photo.photo_id], text=old_word)

    edited = await update(
        mesh,
        owner,
        photo_id=photo.photo_id,
        title=f"second {new_word}",
        caption=f"now with @{ada.username} #{hashtag}",
        alt_texts=[photo_pb2.ImageAltText(media_id=photo.photo_id, alt_text="a grey square")],
        update_mask=FieldMask(paths=["title", "caption", "alt_texts"]),
    )

    assert (edited.title, edited.location, list(edited.tags)) == (
        f"second {new_word}",
        photo.location,
        ["kept", hashtag],
    )
    assert list(edited.mentioned_user_ids) == [ada.user_id] and edited.images[0].alt_text == "a grey square"
    assert edited.edited_at.seconds > 0 and (edited.width, edited.sha256) == (photo.width, photo.sha256)
    got = await stub(mesh).GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo.photo_id), metadata=ada.metadata)
    assert got.photo == edited

    async def view_shows_the_edit() -> None:
        shown = (await views.ViewPhoto(view_request, metadata=ada.metadata, timeout=10)).view.photo
        assert shown.title == edited.title and shown.caption == edited.caption

    await eventually(view_shows_the_edit)
    await until_ids(mesh, ada, [photo.photo_id], text=new_word)
    await until_ids(mesh, ada, [photo.photo_id], tag=hashtag.lower())
    assert await ids(mesh, ada, text=old_word) == []


async def test_only_the_owner_edits_and_bad_edits_name_the_field(mesh: Mesh) -> None:
    owner, other = await sign_up_many(mesh, 2)
    photo = await post(mesh, owner, "mine")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await update(mesh, other, photo_id=photo.photo_id, title="theirs", update_mask=FieldMask(paths=["title"]))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await update(mesh, owner, photo_id=photo.photo_id + 1, title="x", update_mask=FieldMask(paths=["title"]))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    cases = [
        ({"title": "a\x00b", "update_mask": FieldMask(paths=["title"])}, "title"),
        ({"caption": "c" * 2201, "update_mask": FieldMask(paths=["caption"])}, "caption"),
        ({"caption": "hi @nobody_" + unique_word()[:8], "update_mask": FieldMask(paths=["caption"])}, "caption"),
        ({"tags": [" "], "update_mask": FieldMask(paths=["tags"])}, "tags[0]"),
        (
            {"alt_texts": [photo_pb2.ImageAltText(media_id=photo.photo_id, alt_text="d" * 1501)]},
            "alt_texts[0].alt_text",
        ),
        ({"alt_texts": [photo_pb2.ImageAltText(media_id=12345, alt_text="x")]}, "alt_texts[0].media_id"),
        ({"update_mask": FieldMask(paths=["width"])}, "update_mask"),
    ]
    for fields, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await update(mesh, owner, photo_id=photo.photo_id, **fields)
        assert field in field_violations(caught.value), (field, field_violations(caught.value))
    unchanged = await stub(mesh).GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo.photo_id), metadata=owner.metadata)
    assert unchanged.photo.title == "mine" and not unchanged.photo.HasField("edited_at")


@pytest.fixture
async def bus(mesh: Mesh) -> AsyncIterator[EventBus]:
    connected = EventBus(mesh.settings.nats_url, "edits-test")
    await connected.start()
    await asyncio.wait_for(connected.ready(), 20)
    yield connected
    await connected.stop()


async def posted_event(bus: EventBus, photo_id: int, since: datetime) -> events_pb2.PhotoPosted:
    """The PhotoPosted the photo service published for `photo_id`, read back from the stream."""
    subscription = await bus.jetstream.pull_subscribe(
        subject_for(events_pb2.PhotoPosted()),
        stream=EVENTS_STREAM,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60,
        ),
    )
    try:
        while True:
            for message in await subscription.fetch(64, timeout=5):
                event = events_pb2.PhotoPosted.FromString(message.data)
                if event.photo_id == photo_id:
                    return event
    finally:
        await subscription.unsubscribe()


async def test_the_post_delivered_again_after_its_edit_leaves_search_on_the_new_words(
    mesh: Mesh, bus: EventBus
) -> None:
    owner, reader = await sign_up_many(mesh, 2)
    old_word, new_word, later_word = unique_word(), unique_word(), unique_word()
    since = datetime.now(UTC) - timedelta(seconds=5)
    photo = await post(mesh, owner, f"before {old_word}")
    await until_ids(mesh, reader, [photo.photo_id], text=old_word)
    title_only = FieldMask(paths=["title"])
    await update(mesh, owner, photo_id=photo.photo_id, title=f"after {new_word}", update_mask=title_only)
    await until_ids(mesh, reader, [photo.photo_id], text=new_word)
    assert await ids(mesh, reader, text=old_word) == []

    # The original event again, as the outbox relay re-publishes it after the stream's duplicate window.
    original = await posted_event(bus, photo.photo_id, since)
    assert original.title == f"before {old_word}"
    await bus.publish(subject_for(original), original.SerializeToString(), f"{message_id(original)}-again")
    # The indexer handles events in stream order: once a later post is searchable, the stale one was handled.
    later = await post(mesh, owner, f"later {later_word}")
    await until_ids(mesh, reader, [later.photo_id], text=later_word)
    assert await ids(mesh, reader, text=old_word) == []
    assert await ids(mesh, reader, text=new_word) == [photo.photo_id]
