"""Crafted page tokens against every list RPC over real gRPC: INVALID_ARGUMENT on page_token, never INTERNAL.

Page tokens are unsigned base64 JSON, so a client can send any position. Each case starts from a position
shaped exactly like the ones the service issues (its real keys, the right user/photo/query binding), which
must be accepted, then breaks one field at a time: a string or an object where an int goes, a negative,
2**70 (past int64, which SQLite and the CQL driver cannot bind), an int where text goes, or garbage keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.runtime.requests import INT64_MAX, encode_page_token
from services.search.service import query_fingerprint, validate_query
from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.search.v1 import search_pb2, search_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import Mesh, auth

USER = 9_310_001  # the listed user, and the caller where the RPC must act for itself
PHOTO = 9_310_002  # a photo id; the cursor is checked before any store lookup
SEARCH = search_pb2.SearchPhotosRequest(tag="crafted")

Call = Callable[[Mesh, str], Awaitable[Any]]


def _metadata(mesh: Mesh) -> tuple[tuple[str, str], ...]:
    return auth(mesh.user_token(USER))


async def list_followers(mesh: Mesh, token: str) -> Any:
    request = follow_pb2.ListFollowersRequest(user_id=USER, page_token=token)
    return await follow_pb2_grpc.FollowServiceStub(mesh.channel("follow")).ListFollowers(
        request, metadata=_metadata(mesh), timeout=10
    )


async def list_followees(mesh: Mesh, token: str) -> Any:
    request = follow_pb2.ListFolloweesRequest(user_id=USER, page_token=token)
    return await follow_pb2_grpc.FollowServiceStub(mesh.channel("follow")).ListFollowees(
        request, metadata=_metadata(mesh), timeout=10
    )


async def list_user_photos(mesh: Mesh, token: str) -> Any:
    request = photo_pb2.ListUserPhotosRequest(user_id=USER, page_token=token)
    return await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).ListUserPhotos(
        request, metadata=_metadata(mesh), timeout=10
    )


async def list_likers(mesh: Mesh, token: str) -> Any:
    request = like_pb2.ListLikersRequest(photo_id=PHOTO, page_token=token)
    return await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).ListLikers(
        request, metadata=_metadata(mesh), timeout=10
    )


async def list_comments(mesh: Mesh, token: str) -> Any:
    request = comment_pb2.ListCommentsRequest(
        photo_id=PHOTO, order=comment_pb2.COMMENT_ORDER_NEWEST_FIRST, page_token=token
    )
    return await comment_pb2_grpc.CommentServiceStub(mesh.channel("comment")).ListComments(
        request, metadata=_metadata(mesh), timeout=10
    )


async def get_feed(mesh: Mesh, token: str) -> Any:
    request = feed_pb2.GetFeedRequest(user_id=USER, page_token=token)
    return await feed_pb2_grpc.FeedServiceStub(mesh.channel("feed")).GetFeed(
        request, metadata=_metadata(mesh), timeout=10
    )


async def search_photos(mesh: Mesh, token: str) -> Any:
    request = search_pb2.SearchPhotosRequest(tag=SEARCH.tag, page_token=token)
    return await search_pb2_grpc.SearchServiceStub(mesh.channel("search")).SearchPhotos(
        request, metadata=_metadata(mesh), timeout=10
    )


async def view_user_photos(mesh: Mesh, token: str) -> Any:
    """The view service hands the token to photo.ListUserPhotos; the field violation must survive the hop."""
    request = view_pb2.ViewUserPhotosRequest(user_id=USER, viewer_id=USER, page_token=token)
    return await view_pb2_grpc.ViewServiceStub(mesh.channel("view")).ViewUserPhotos(
        request, metadata=_metadata(mesh), timeout=10
    )


@dataclass(frozen=True)
class ListRpc:
    name: str
    call: Call
    issued: dict[str, Any]  # a position shaped like the service's own tokens (keys read from its code)


RPCS = [
    ListRpc("ListFollowers", list_followers, {"list": "followers", "user": USER, "before": INT64_MAX}),
    ListRpc("ListFollowees", list_followees, {"list": "followees", "user": USER, "before": INT64_MAX}),
    ListRpc("ListUserPhotos", list_user_photos, {"u": USER, "before": INT64_MAX}),
    ListRpc("ListLikers", list_likers, {"p": PHOTO, "t": INT64_MAX, "u": INT64_MAX}),
    ListRpc("ListComments", list_comments, {"p": PHOTO, "o": comment_pb2.COMMENT_ORDER_NEWEST_FIRST, "c": INT64_MAX}),
    ListRpc("GetFeed", get_feed, {"before": INT64_MAX}),
    ListRpc("SearchPhotos", search_photos, {"before": INT64_MAX, "query": query_fingerprint(validate_query(SEARCH))}),
    ListRpc("ViewUserPhotos", view_user_photos, {"u": USER, "before": INT64_MAX}),
]


def crafted(issued: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Garbage keys, then each field of an issued position broken in every way its kind allows."""
    cases: list[tuple[str, dict[str, Any]]] = [("garbage-keys", {"x": "y"})]
    for key, value in issued.items():
        bad_values: dict[str, Any] = (
            {"huge": 2**70, "int64+1": 2**63, "string": "x", "negative": -1, "bool": True, "float": 1.5, "list": [1]}
            if isinstance(value, int)
            else {"int": 5, "object": {"a": 1}}
        )
        cases += [(f"{key}={label}", {**issued, key: bad}) for label, bad in bad_values.items()]
    return cases


CASES = [
    pytest.param(rpc.call, position, id=f"{rpc.name}-{label}")
    for rpc in RPCS
    for label, position in crafted(rpc.issued)
]


def page_token_violation(error: grpc.aio.AioRpcError) -> str | None:
    """The description of the BadRequest field violation on page_token, read from the rich status."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            for violation in bad_request.field_violations:
                if violation.field == "page_token":
                    return violation.description
    return None


@pytest.mark.parametrize("rpc", [pytest.param(rpc, id=rpc.name) for rpc in RPCS])
async def test_a_well_formed_position_is_accepted(mesh: Mesh, rpc: ListRpc) -> None:
    """The control: the crafted cases below differ from this one in a single field."""
    reply = await rpc.call(mesh, encode_page_token(rpc.issued))
    assert reply.next_page_token == ""


@pytest.mark.parametrize(("call", "position"), CASES)
async def test_a_crafted_token_is_invalid_argument_on_page_token(
    mesh: Mesh, call: Call, position: dict[str, Any]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(mesh, encode_page_token(position))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert page_token_violation(caught.value), "no BadRequest field violation on page_token"
