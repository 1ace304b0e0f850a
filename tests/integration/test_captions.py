"""Captions over real gRPC on the shared mesh: #hashtags join the tags and are searchable (a hashtag's page is
a tag search, newest first, paged); @mentions resolve to users in one batch call and notify them; bad captions
are refused naming metadata.caption, with nothing posted."""

from __future__ import annotations

import grpc
import pytest

from shutter.notification.v1 import notification_pb2
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.notifications import groups_of
from tests.support.photos import make_jpeg, metadata, requests
from tests.support.rich_status import field_violations
from tests.support.search import search, unique_word, until_ids
from tests.support.users import SignedUp, sign_up_many
from tests.support.waiting import eventually

MENTION = notification_pb2.NOTIFICATION_TYPE_MENTION


def stub(mesh: Mesh) -> photo_pb2_grpc.PhotoServiceStub:
    return photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))


async def post(mesh: Mesh, author: SignedUp, caption: str, *, tags: tuple[str, ...] = ()) -> photo_pb2.Photo:
    meta = metadata(author.user_id, title="captioned", tags=tags)
    meta.caption = caption
    reply = await stub(mesh).UploadPhoto(requests(meta, make_jpeg(32, 32)), metadata=author.metadata, timeout=30)
    return reply.photo


async def test_hashtags_join_the_tags_and_a_hashtag_page_is_newest_first_and_paged(mesh: Mesh) -> None:
    (author,) = await sign_up_many(mesh, 1)
    word = unique_word()
    caption = f"Golden hour\nat the pier #{word.upper()} #Été #été"

    first = await post(mesh, author, caption, tags=("pier",))
    second = await post(mesh, author, f"again #{word}")

    assert first.caption == caption
    assert list(first.tags) == ["pier", word.upper(), "Été"]  # the tags as given, then new hashtags once each
    assert list(second.tags) == [word]
    await until_ids(mesh, author, [second.photo_id, first.photo_id], tag=f"#{word}")
    page = await search(mesh, author, tag=word, page_size=1)
    assert [hit.photo_id for hit in page.hits] == [second.photo_id] and page.next_page_token
    rest = await search(mesh, author, tag=word, page_size=1, page_token=page.next_page_token)
    assert [hit.photo_id for hit in rest.hits] == [first.photo_id]
    await until_ids(mesh, author, [first.photo_id], text=f"golden {word}")  # the caption's words are indexed


async def test_mentions_resolve_to_users_and_notify_them(mesh: Mesh) -> None:
    author, ada, bob = await sign_up_many(mesh, 3)

    photo = await post(mesh, author, f"with @{ada.username.upper()} and @{bob.username}. (cc @{ada.username})")

    assert list(photo.mentioned_user_ids) == [ada.user_id, bob.user_id]
    fetched = await stub(mesh).GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo.photo_id), metadata=ada.metadata)
    assert list(fetched.photo.mentioned_user_ids) == [ada.user_id, bob.user_id]
    for mentioned in (ada, bob):
        [group] = await eventually(lambda m=mentioned: groups_of(mesh, m))
        assert (group.type, group.photo_id, list(group.latest_actor_ids)) == (MENTION, photo.photo_id, [author.user_id])


async def test_bad_captions_are_refused_naming_the_caption_and_nothing_is_posted(mesh: Mesh) -> None:
    (author,) = await sign_up_many(mesh, 1)
    for caption in (
        "x" * 2201,
        "ring the bell \x07",
        "bidi \u202e spoof",
        "hello @no_such_user_" + unique_word()[:8],
        " ".join(f"#t{n}" for n in range(31)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await post(mesh, author, caption)
        assert list(field_violations(caught.value)) == ["metadata.caption"], caption[:40]
    listed = await stub(mesh).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=author.user_id), metadata=author.metadata
    )
    assert list(listed.photos) == []
    assert (await post(mesh, author, "x" * 2200)).caption == "x" * 2200  # the limit itself is fine


async def test_an_album_caption_mentions_and_tags_too(mesh: Mesh) -> None:
    author, ada = await sign_up_many(mesh, 2)
    meta = photo_pb2.MediaMetadata()

    async def media_stream():  # type: ignore[no-untyped-def]
        yield photo_pb2.UploadMediaRequest(metadata=meta)
        yield photo_pb2.UploadMediaRequest(chunk=make_jpeg(16, 16))

    media = await stub(mesh).UploadMedia(media_stream(), metadata=author.metadata, timeout=30)
    request = photo_pb2.CreatePostRequest(
        metadata=photo_pb2.PhotoMetadata(caption=f"#trip with @{ada.username}"),
        images=[photo_pb2.PostImage(media_id=media.media.media_id)],
    )
    photo = (await stub(mesh).CreatePost(request, metadata=author.metadata, timeout=30)).photo
    assert (list(photo.tags), list(photo.mentioned_user_ids)) == (["trip"], [ada.user_id])

    request.metadata.caption = "@nobody_" + unique_word()[:10]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub(mesh).CreatePost(request, metadata=author.metadata, timeout=30)
    assert list(field_violations(caught.value)) == ["metadata.caption"]


async def test_batch_get_users_finds_usernames_in_any_case(mesh: Mesh) -> None:
    ada, bob = await sign_up_many(mesh, 2)
    users = user_pb2_grpc.UserServiceStub(mesh.channel("user"))

    reply = await users.BatchGetUsers(
        user_pb2.BatchGetUsersRequest(
            user_ids=[bob.user_id], usernames=[ada.username.upper(), "nobody_here", bob.username]
        ),
        metadata=ada.metadata,
    )

    assert [u.user_id for u in reply.users] == [bob.user_id, ada.user_id]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users.BatchGetUsers(user_pb2.BatchGetUsersRequest(usernames=["ok_name", "a b"]), metadata=ada.metadata)
    assert list(field_violations(caught.value)) == ["usernames[1]"]
