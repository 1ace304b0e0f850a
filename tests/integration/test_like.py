"""LikeService over real gRPC against the real mesh: idempotency, counts, batches, paging, authz, purges."""

from __future__ import annotations

import grpc
import pytest

from shutter.events.v1 import events_pb2
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.rich_status import field_violations
from tests.support.social import new_photo, publish_event, stream_events, user_deleted
from tests.support.users import Identity, sign_up, sign_up_many
from tests.support.waiting import eventually


def likes(mesh: Mesh) -> like_pb2_grpc.LikeServiceStub:
    return like_pb2_grpc.LikeServiceStub(mesh.channel("like"))


async def like(mesh: Mesh, photo_id: int, user: Identity) -> like_pb2.LikePhotoResponse:
    return await likes(mesh).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=user.user_id), metadata=user.metadata, timeout=10
    )


async def summary(mesh: Mesh, photo_id: int, viewer: Identity) -> like_pb2.LikeSummary:
    reply = await likes(mesh).GetLikeSummary(
        like_pb2.GetLikeSummaryRequest(photo_id=photo_id, viewer_id=viewer.user_id),
        metadata=viewer.metadata,
        timeout=10,
    )
    return reply.summary


async def test_like_is_idempotent_and_unlike_reverts(mesh: Mesh) -> None:
    owner, fan = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    first = await like(mesh, photo.photo_id, fan)
    assert first.created is True
    assert (first.summary.like_count, first.summary.viewer_has_liked) == (1, True)
    again = await like(mesh, photo.photo_id, fan)
    assert again.created is False
    assert again.summary.like_count == 1

    token = fan.metadata
    request = like_pb2.UnlikePhotoRequest(photo_id=photo.photo_id, user_id=fan.user_id)
    removed = await likes(mesh).UnlikePhoto(request, metadata=token, timeout=10)
    assert removed.removed is True
    assert (removed.summary.like_count, removed.summary.viewer_has_liked) == (0, False)
    assert (await likes(mesh).UnlikePhoto(request, metadata=token, timeout=10)).removed is False
    assert (await summary(mesh, photo.photo_id, owner)).like_count == 0


async def test_like_changed_is_emitted_once_per_change(mesh: Mesh) -> None:
    owner, fan = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    await like(mesh, photo.photo_id, fan)
    await like(mesh, photo.photo_id, fan)  # no change, no event
    await likes(mesh).UnlikePhoto(
        like_pb2.UnlikePhotoRequest(photo_id=photo.photo_id, user_id=fan.user_id), metadata=fan.metadata, timeout=10
    )
    events = await stream_events(mesh, events_pb2.LikeChanged, lambda e: e.photo_id == photo.photo_id)
    assert [(e.user_id, e.liked) for e in events] == [(fan.user_id, True), (fan.user_id, False)]
    assert all(e.meta.source == "like" and e.meta.event_id > 0 for e in events)


async def test_counts_has_liked_and_batch_in_request_order(mesh: Mesh) -> None:
    owner, *fans = await sign_up_many(mesh, 4)
    busy, quiet = await new_photo(mesh, owner), await new_photo(mesh, owner)
    for fan in fans:
        await like(mesh, busy.photo_id, fan)
    await like(mesh, quiet.photo_id, fans[0])

    assert (await summary(mesh, busy.photo_id, fans[1])).like_count == 3
    reply = await likes(mesh).BatchGetLikeSummaries(
        like_pb2.BatchGetLikeSummariesRequest(
            photo_ids=[quiet.photo_id, 987654321, busy.photo_id], viewer_id=fans[1].user_id
        ),
        metadata=fans[1].metadata,
        timeout=10,
    )
    assert [(s.photo_id, s.like_count, s.viewer_has_liked) for s in reply.summaries] == [
        (quiet.photo_id, 1, False),
        (987654321, 0, False),
        (busy.photo_id, 3, True),
    ]


async def test_batch_is_capped_and_ids_checked(mesh: Mesh) -> None:
    viewer = await sign_up(mesh, sign_in=False)
    for ids, in_error in (([*range(1, 102)], "photo_ids"), ([5, 0], "photo_ids")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await likes(mesh).BatchGetLikeSummaries(
                like_pb2.BatchGetLikeSummariesRequest(photo_ids=ids, viewer_id=viewer.user_id),
                metadata=viewer.metadata,
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert list(field_violations(caught.value)) == [in_error]


def pairs(*items: tuple[int, int]) -> like_pb2.BatchGetViewerLikeSummariesRequest:
    return like_pb2.BatchGetViewerLikeSummariesRequest(
        requests=[like_pb2.GetLikeSummaryRequest(photo_id=photo_id, viewer_id=viewer) for photo_id, viewer in items]
    )


async def test_a_service_asks_for_many_viewers_in_one_batch(mesh: Mesh) -> None:
    owner, fan, other = await sign_up_many(mesh, 3)
    first, second = await new_photo(mesh, owner), await new_photo(mesh, owner)
    await like(mesh, first.photo_id, fan)
    await like(mesh, second.photo_id, other)

    reply = await likes(mesh).BatchGetViewerLikeSummaries(
        pairs(
            (first.photo_id, fan.user_id),
            (first.photo_id, other.user_id),
            (second.photo_id, other.user_id),
            (second.photo_id, 0),
        ),
        metadata=auth(mesh.tokens.issue_service_token("view")),
        timeout=10,
    )
    assert [(s.photo_id, s.like_count, s.viewer_has_liked) for s in reply.summaries] == [
        (first.photo_id, 1, True),
        (first.photo_id, 1, False),
        (second.photo_id, 1, True),
        (second.photo_id, 1, False),  # 0: nobody
    ]


async def test_a_user_batch_of_pairs_names_only_themselves(mesh: Mesh) -> None:
    owner, fan, other = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    await like(mesh, photo.photo_id, fan)

    mine = await likes(mesh).BatchGetViewerLikeSummaries(
        pairs((photo.photo_id, fan.user_id), (photo.photo_id, 0)), metadata=fan.metadata, timeout=10
    )
    assert [s.viewer_has_liked for s in mine.summaries] == [True, True]  # unset: the caller
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await likes(mesh).BatchGetViewerLikeSummaries(
            pairs((photo.photo_id, fan.user_id), (photo.photo_id, other.user_id)), metadata=fan.metadata, timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await likes(mesh).BatchGetViewerLikeSummaries(pairs((photo.photo_id, fan.user_id)), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_batch_of_pairs_is_capped_and_every_bad_pair_named(mesh: Mesh) -> None:
    as_service = auth(mesh.tokens.issue_service_token("view"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await likes(mesh).BatchGetViewerLikeSummaries(
            pairs(*((photo_id, 1) for photo_id in range(1, 102))), metadata=as_service, timeout=10
        )
    assert list(field_violations(caught.value)) == ["requests"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await likes(mesh).BatchGetViewerLikeSummaries(pairs((5, 1), (0, 1), (6, -2)), metadata=as_service, timeout=10)
    assert list(field_violations(caught.value)) == ["requests[1].photo_id", "requests[2].viewer_id"]


async def test_likers_page_newest_first(mesh: Mesh) -> None:
    owner, *fans = await sign_up_many(mesh, 6)
    photo = await new_photo(mesh, owner)
    for fan in fans:
        await like(mesh, photo.photo_id, fan)
    token = owner.metadata
    seen: list[int] = []
    page_token = ""
    pages = 0
    while True:
        reply = await likes(mesh).ListLikers(
            like_pb2.ListLikersRequest(photo_id=photo.photo_id, page_size=2, page_token=page_token),
            metadata=token,
            timeout=10,
        )
        seen.extend(liker.user_id for liker in reply.likers)
        assert all(liker.liked_at.seconds > 0 for liker in reply.likers)
        pages += 1
        page_token = reply.next_page_token
        if not page_token:
            break
    assert seen == [fan.user_id for fan in reversed(fans)]
    assert pages == 3

    other = await new_photo(mesh, owner)
    first = await likes(mesh).ListLikers(
        like_pb2.ListLikersRequest(photo_id=photo.photo_id, page_size=1), metadata=token
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await likes(mesh).ListLikers(
            like_pb2.ListLikersRequest(photo_id=other.photo_id, page_token=first.next_page_token), metadata=token
        )
    assert list(field_violations(caught.value)) == ["page_token"]


@pytest.mark.parametrize(
    ("photo_id", "user_id", "fields"),
    # None: the caller's own id (0 would mean the caller too).
    [(0, None, ["photo_id"]), (1, -2, ["user_id"]), (-1, -1, ["photo_id", "user_id"])],
)
async def test_bad_ids_are_invalid_argument(mesh: Mesh, photo_id: int, user_id: int | None, fields: list[str]) -> None:
    caller = await sign_up(mesh, sign_in=False)
    request = like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=caller.user_id if user_id is None else user_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await likes(mesh).LikePhoto(request, metadata=caller.metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(caught.value)) == fields


async def test_liking_as_someone_else_is_denied_and_writes_nothing(mesh: Mesh) -> None:
    owner, victim, attacker = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    token = attacker.metadata
    victim_id = victim.user_id
    for call, request in (
        (likes(mesh).LikePhoto, like_pb2.LikePhotoRequest(photo_id=photo.photo_id, user_id=victim_id)),
        (likes(mesh).UnlikePhoto, like_pb2.UnlikePhotoRequest(photo_id=photo.photo_id, user_id=victim_id)),
        (likes(mesh).GetLikeSummary, like_pb2.GetLikeSummaryRequest(photo_id=photo.photo_id, viewer_id=victim_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=token, timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await summary(mesh, photo.photo_id, victim)).like_count == 0


async def test_unknown_photo_is_not_found(mesh: Mesh) -> None:
    fan = await sign_up(mesh, sign_in=False)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await like(mesh, 424242424242, fan)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await summary(mesh, 424242424242, fan)).like_count == 0


async def test_deleting_the_photo_purges_its_likes(mesh: Mesh) -> None:
    owner, *fans = await sign_up_many(mesh, 3)
    photo, kept = await new_photo(mesh, owner), await new_photo(mesh, owner)
    for fan in fans:
        await like(mesh, photo.photo_id, fan)
    await like(mesh, kept.photo_id, fans[0])
    await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).DeletePhoto(
        photo_pb2.DeletePhotoRequest(photo_id=photo.photo_id), metadata=owner.metadata, timeout=10
    )

    async def purged() -> like_pb2.LikeSummary:
        after = await summary(mesh, photo.photo_id, fans[0])
        assert after.like_count == 0
        return after

    after = await eventually(purged)
    assert (after.like_count, after.viewer_has_liked) == (0, False)
    listed = await likes(mesh).ListLikers(
        like_pb2.ListLikersRequest(photo_id=photo.photo_id), metadata=owner.metadata, timeout=10
    )
    assert list(listed.likers) == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await like(mesh, photo.photo_id, fans[1])
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await summary(mesh, kept.photo_id, fans[0])).like_count == 1


async def test_user_deleted_drops_their_likes_and_fixes_counts(mesh: Mesh) -> None:
    owner, leaving, staying = await sign_up_many(mesh, 3)
    photos = [await new_photo(mesh, owner) for _ in range(2)]
    for photo in photos:
        await like(mesh, photo.photo_id, leaving)
        await like(mesh, photo.photo_id, staying)
    event = user_deleted(leaving.user_id)
    await publish_event(mesh, event)
    await publish_event(mesh, user_deleted(leaving.user_id))  # a second deletion event must be harmless
    for photo in photos:

        async def one_like_left(photo_id: int = photo.photo_id) -> like_pb2.LikeSummary:
            after = await summary(mesh, photo_id, staying)
            assert after.like_count == 1
            return after

        after = await eventually(one_like_left)
        assert (after.like_count, after.viewer_has_liked) == (1, True)
