"""CommentService over real gRPC against the real mesh: posting, paging, deleting, counts, authz, purges."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.rich_status import field_violations
from tests.support.social import new_photo, publish_event, stream_events, user_deleted
from tests.support.users import Identity, sign_up, sign_up_many
from tests.support.waiting import eventually


def comments(mesh: Mesh) -> comment_pb2_grpc.CommentServiceStub:
    return comment_pb2_grpc.CommentServiceStub(mesh.channel("comment"))


async def post(mesh: Mesh, photo_id: int, author: Identity, text: str, **fields: object) -> comment_pb2.Comment:
    reply = await comments(mesh).PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo_id, user_id=author.user_id, text=text, **fields),
        metadata=author.metadata,
        timeout=10,
    )
    return reply.comment


async def count(mesh: Mesh, photo_id: int, reader: Identity) -> int:
    reply = await comments(mesh).BatchGetCommentCounts(
        comment_pb2.BatchGetCommentCountsRequest(photo_ids=[photo_id]), metadata=reader.metadata, timeout=10
    )
    return reply.counts[0].comment_count


async def listing(mesh: Mesh, photo_id: int, order: int, page_size: int, reader: Identity) -> list[list[str]]:
    """Every page's texts, following next_page_token to the end; every page states the same total."""
    pages: list[list[str]] = []
    totals: set[int] = set()
    token = ""
    while True:
        reply = await comments(mesh).ListComments(
            comment_pb2.ListCommentsRequest(photo_id=photo_id, page_size=page_size, page_token=token, order=order),
            metadata=reader.metadata,
            timeout=10,
        )
        pages.append([c.text for c in reply.comments])
        totals.add(reply.total_size)
        token = reply.next_page_token
        if not token:
            assert totals == {sum(len(page) for page in pages)}
            return pages


async def test_post_trims_keeps_client_time_and_emits_an_event(mesh: Mesh) -> None:
    owner, author = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    written = Timestamp(seconds=1_700_000_000, nanos=123_000_000)
    comment = await post(mesh, photo.photo_id, author, "  lovely light\nand colours  \n", time_stamp=written)
    assert comment.text == "lovely light\nand colours"
    assert (comment.photo_id, comment.user_id) == (photo.photo_id, author.user_id)
    assert comment.time_stamp == written
    assert comment.created_at.seconds > written.seconds
    assert comment.comment_id > 0
    assert await count(mesh, photo.photo_id, owner) == 1
    events = await stream_events(mesh, events_pb2.CommentChanged, lambda e: e.photo_id == photo.photo_id)
    assert [(e.comment_id, e.user_id, e.change) for e in events] == [
        (comment.comment_id, author.user_id, events_pb2.COMMENT_CHANGE_CREATED)
    ]


@pytest.mark.parametrize(
    ("text", "fields"),
    [("   ", ["text"]), ("x" * 2201, ["text"]), ("tab\tinside", ["text"]), ("nul\x00", ["text"])],
)
async def test_bad_text_is_invalid_argument_and_stores_nothing(mesh: Mesh, text: str, fields: list[str]) -> None:
    owner = await sign_up(mesh, sign_in=False)
    photo = await new_photo(mesh, owner)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await post(mesh, photo.photo_id, owner, text)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(caught.value)) == fields
    assert await count(mesh, photo.photo_id, owner) == 0


async def test_every_bad_field_is_named_at_once(mesh: Mesh) -> None:
    caller = await sign_up(mesh, sign_in=False)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await comments(mesh).PostComment(
            comment_pb2.PostCommentRequest(photo_id=0, user_id=-3, text=""), metadata=caller.metadata, timeout=10
        )
    assert list(field_violations(caught.value)) == ["photo_id", "user_id", "text"]


async def test_longest_allowed_text_is_accepted(mesh: Mesh) -> None:
    owner = await sign_up(mesh, sign_in=False)
    photo = await new_photo(mesh, owner)
    assert len((await post(mesh, photo.photo_id, owner, "é" * 2200)).text) == 2200


async def test_posting_as_someone_else_or_on_a_missing_photo_fails(mesh: Mesh) -> None:
    owner, victim = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await comments(mesh).PostComment(
            comment_pb2.PostCommentRequest(photo_id=photo.photo_id, user_id=victim.user_id, text="not me"),
            metadata=owner.metadata,
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await post(mesh, 31337313373, owner, "where")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await count(mesh, photo.photo_id, owner) == 0


async def test_list_pages_oldest_or_newest_first(mesh: Mesh) -> None:
    owner = await sign_up(mesh, sign_in=False)
    photo = await new_photo(mesh, owner)
    for index, commenter in enumerate(await sign_up_many(mesh, 5)):
        await post(mesh, photo.photo_id, commenter, f"c{index}")
    oldest = [["c0", "c1"], ["c2", "c3"], ["c4"]]
    assert await listing(mesh, photo.photo_id, comment_pb2.COMMENT_ORDER_UNSPECIFIED, 2, owner) == oldest
    assert await listing(mesh, photo.photo_id, comment_pb2.COMMENT_ORDER_OLDEST_FIRST, 2, owner) == oldest
    assert await listing(mesh, photo.photo_id, comment_pb2.COMMENT_ORDER_NEWEST_FIRST, 3, owner) == [
        ["c4", "c3", "c2"],
        ["c1", "c0"],
    ]


async def test_a_page_token_only_works_for_its_own_photo_and_order(mesh: Mesh) -> None:
    owner = await sign_up(mesh, sign_in=False)
    photo = await new_photo(mesh, owner)
    for index in range(2):
        await post(mesh, photo.photo_id, owner, f"c{index}")
    token = owner.metadata
    first = await comments(mesh).ListComments(
        comment_pb2.ListCommentsRequest(photo_id=photo.photo_id, page_size=1), metadata=token, timeout=10
    )
    for request in (
        comment_pb2.ListCommentsRequest(photo_id=photo.photo_id + 1, page_token=first.next_page_token),
        comment_pb2.ListCommentsRequest(
            photo_id=photo.photo_id, page_token=first.next_page_token, order=comment_pb2.COMMENT_ORDER_NEWEST_FIRST
        ),
        comment_pb2.ListCommentsRequest(photo_id=photo.photo_id, page_token="garbage!"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await comments(mesh).ListComments(request, metadata=token, timeout=10)
        assert list(field_violations(caught.value)) == ["page_token"]


async def test_delete_by_author_or_photo_owner_but_nobody_else(mesh: Mesh) -> None:
    owner, author, stranger = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    first = await post(mesh, photo.photo_id, author, "one")
    second = await post(mesh, photo.photo_id, author, "two")

    def delete(comment: comment_pb2.Comment, as_user: Identity):  # type: ignore[no-untyped-def]
        return comments(mesh).DeleteComment(
            comment_pb2.DeleteCommentRequest(photo_id=photo.photo_id, comment_id=comment.comment_id),
            metadata=as_user.metadata,
            timeout=10,
        )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await delete(first, stranger)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await count(mesh, photo.photo_id, owner) == 2

    await delete(first, author)
    await delete(second, owner)
    assert await count(mesh, photo.photo_id, owner) == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await delete(first, author)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    events = await stream_events(mesh, events_pb2.CommentChanged, lambda e: e.photo_id == photo.photo_id)
    assert [(e.comment_id, e.change) for e in events if e.change == events_pb2.COMMENT_CHANGE_DELETED] == [
        (first.comment_id, events_pb2.COMMENT_CHANGE_DELETED),
        (second.comment_id, events_pb2.COMMENT_CHANGE_DELETED),
    ]


async def test_batch_counts_in_request_order_and_capped(mesh: Mesh) -> None:
    owner = await sign_up(mesh, sign_in=False)
    busy, quiet = await new_photo(mesh, owner), await new_photo(mesh, owner)
    for index in range(3):
        await post(mesh, busy.photo_id, owner, f"c{index}")
    token = owner.metadata
    reply = await comments(mesh).BatchGetCommentCounts(
        comment_pb2.BatchGetCommentCountsRequest(photo_ids=[quiet.photo_id, busy.photo_id, quiet.photo_id]),
        metadata=token,
        timeout=10,
    )
    assert [(c.photo_id, c.comment_count) for c in reply.counts] == [
        (quiet.photo_id, 0),
        (busy.photo_id, 3),
        (quiet.photo_id, 0),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await comments(mesh).BatchGetCommentCounts(
            comment_pb2.BatchGetCommentCountsRequest(photo_ids=list(range(1, 102))), metadata=token, timeout=10
        )
    assert list(field_violations(caught.value)) == ["photo_ids"]


async def test_batch_first_pages_with_totals_and_tokens_that_continue_the_listing(mesh: Mesh) -> None:
    owner = await sign_up(mesh, sign_in=False)
    busy, quiet = await new_photo(mesh, owner), await new_photo(mesh, owner)
    for index in range(3):
        await post(mesh, busy.photo_id, owner, f"c{index}")
    token = auth(mesh.tokens.issue_service_token("view"))
    reply = await comments(mesh).BatchListComments(
        comment_pb2.BatchListCommentsRequest(photo_ids=[busy.photo_id, quiet.photo_id], page_size=2),
        metadata=token,
        timeout=10,
    )
    first, empty = reply.photos
    assert (first.photo_id, [c.text for c in first.comments], first.total_size) == (busy.photo_id, ["c0", "c1"], 3)
    assert (empty.photo_id, list(empty.comments), empty.total_size, empty.next_page_token) == (
        quiet.photo_id,
        [],
        0,
        "",
    )
    rest = await comments(mesh).ListComments(
        comment_pb2.ListCommentsRequest(photo_id=busy.photo_id, page_size=2, page_token=first.next_page_token),
        metadata=token,
        timeout=10,
    )
    assert ([c.text for c in rest.comments], rest.next_page_token) == (["c2"], "")
    newest = await comments(mesh).BatchListComments(
        comment_pb2.BatchListCommentsRequest(
            photo_ids=[busy.photo_id], page_size=5, order=comment_pb2.COMMENT_ORDER_NEWEST_FIRST
        ),
        metadata=token,
        timeout=10,
    )
    assert [c.text for c in newest.photos[0].comments] == ["c2", "c1", "c0"]


async def test_batch_first_pages_name_every_bad_field(mesh: Mesh) -> None:
    token = (await sign_up(mesh, sign_in=False)).metadata
    for photo_ids in ([*range(1, 102)], [5, 0]):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await comments(mesh).BatchListComments(
                comment_pb2.BatchListCommentsRequest(photo_ids=photo_ids, page_size=-1, order=9),
                metadata=token,
                timeout=10,
            )
        assert list(field_violations(caught.value)) == ["photo_ids", "order", "page_size"]


async def test_deleting_the_photo_purges_its_comments(mesh: Mesh) -> None:
    owner, author = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    for index in range(3):
        await post(mesh, photo.photo_id, author, f"c{index}")
    await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).DeletePhoto(
        photo_pb2.DeletePhotoRequest(photo_id=photo.photo_id), metadata=owner.metadata, timeout=10
    )

    async def purged() -> None:
        assert await count(mesh, photo.photo_id, owner) == 0

    await eventually(purged)
    assert await listing(mesh, photo.photo_id, comment_pb2.COMMENT_ORDER_OLDEST_FIRST, 10, owner) == [[]]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await post(mesh, photo.photo_id, author, "too late")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_user_deleted_drops_their_comments(mesh: Mesh) -> None:
    owner, leaving, staying = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    await post(mesh, photo.photo_id, leaving, "bye")
    await post(mesh, photo.photo_id, staying, "hi")
    await post(mesh, photo.photo_id, leaving, "bye again")
    await publish_event(mesh, user_deleted(leaving.user_id))

    async def one_left() -> None:
        assert await count(mesh, photo.photo_id, owner) == 1

    await eventually(one_left)
    assert await listing(mesh, photo.photo_id, comment_pb2.COMMENT_ORDER_OLDEST_FIRST, 10, owner) == [["hi"]]
