"""Crafted page tokens against every list RPC over real gRPC: INVALID_ARGUMENT on page_token, never INTERNAL.

Page tokens are signed (HMAC with a key derived from the mesh's signing secret) and bound to the listing
that issued them. Each RPC first accepts a position shaped exactly like the ones it issues (its real keys,
the right user/photo/query binding), signed as the service signs it. Then every token it did not issue is
refused: crafted without a signature (5,000 nested brackets among them), cut short, altered, signed with
another key, or issued by another listing. Positions signed with the right key but broken one field at a
time (a string or an object where an int goes, a negative, 2**70, an int where text goes, garbage keys)
are refused too: the cursor checks stay behind the signature as a second line.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from services.runtime.requests import INT64_MAX, PageTokens
from services.search.service import query_fingerprint, validate_query
from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.search.v1 import search_pb2, search_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import AUTH_SECRET, Mesh
from tests.support.rich_status import field_violations
from tests.support.users import user_without_account

# The listed user, and the caller where the RPC must act for itself. The crafted positions below are test
# parameters, so the id is needed before any mesh exists: a user without an account (nothing is listed;
# the cursor is checked before any store lookup).
USER = 9_310_001
PHOTO = 9_310_002  # a photo id; the cursor is checked before any store lookup
SEARCH = search_pb2.SearchPhotosRequest(tag="crafted")

Call = Callable[[Mesh, str], Awaitable[Any]]
# What every service signs with: the key derives from the mesh's SHUTTER_AUTH_SECRET.
PAGES = PageTokens(AUTH_SECRET)


def _metadata(mesh: Mesh) -> tuple[tuple[str, str], ...]:
    return user_without_account(mesh, USER).metadata


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
    listing: type[Message]  # the request type whose tokens it reads (ViewUserPhotos passes ListUserPhotos')
    issued: dict[str, Any]  # a position shaped like the service's own tokens (keys read from its code)

    def sign(self, position: dict[str, Any], listing: type[Message] | None = None, key: str = AUTH_SECRET) -> str:
        return PageTokens(key).encode((listing or self.listing)(), position)


RPCS = [
    ListRpc("ListFollowers", list_followers, follow_pb2.ListFollowersRequest, {"user": USER, "before": INT64_MAX}),
    ListRpc("ListFollowees", list_followees, follow_pb2.ListFolloweesRequest, {"user": USER, "before": INT64_MAX}),
    ListRpc("ListUserPhotos", list_user_photos, photo_pb2.ListUserPhotosRequest, {"u": USER, "before": INT64_MAX}),
    ListRpc("ListLikers", list_likers, like_pb2.ListLikersRequest, {"p": PHOTO, "t": INT64_MAX, "u": INT64_MAX}),
    ListRpc(
        "ListComments",
        list_comments,
        comment_pb2.ListCommentsRequest,
        {"p": PHOTO, "o": comment_pb2.COMMENT_ORDER_NEWEST_FIRST, "c": INT64_MAX},
    ),
    ListRpc("GetFeed", get_feed, feed_pb2.GetFeedRequest, {"before": INT64_MAX}),
    ListRpc(
        "SearchPhotos",
        search_photos,
        search_pb2.SearchPhotosRequest,
        {"before": INT64_MAX, "query": query_fingerprint(validate_query(SEARCH))},
    ),
    ListRpc("ViewUserPhotos", view_user_photos, photo_pb2.ListUserPhotosRequest, {"u": USER, "before": INT64_MAX}),
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
    pytest.param(rpc.call, rpc.sign(position), id=f"{rpc.name}-{label}")
    for rpc in RPCS
    for label, position in crafted(rpc.issued)
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def not_issued(rpc: ListRpc) -> list[tuple[str, str]]:
    """Tokens the listing never issued, each next to the one it did (which the control test accepts)."""
    issued = rpc.sign(rpc.issued)
    raw = base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4))
    tag, payload = raw[:32], raw[32:]
    other = next(r.listing for r in RPCS if r.listing is not rpc.listing)
    return [
        ("crafted-deep-json", _b64(b"[" * 5000 + b"]" * 5000)),
        ("crafted-unsigned-position", _b64(json.dumps(rpc.issued).encode())),
        ("truncated", issued[: len(issued) // 2]),
        ("truncated-by-one", issued[:-1]),
        ("altered-position", _b64(tag + payload.replace(b"9", b"8", 1))),
        ("wrong-key", rpc.sign(rpc.issued, key="a secret that is not the mesh's")),
        ("cross-listing", rpc.sign(rpc.issued, listing=other)),
        ("not-base64", "%%%"),
    ]


NOT_ISSUED = [
    pytest.param(rpc.call, token, id=f"{rpc.name}-{label}") for rpc in RPCS for label, token in not_issued(rpc)
]


@pytest.mark.parametrize("rpc", [pytest.param(rpc, id=rpc.name) for rpc in RPCS])
async def test_a_well_formed_position_is_accepted(mesh: Mesh, rpc: ListRpc) -> None:
    """The control: the crafted cases below differ from this one in a single field."""
    reply = await rpc.call(mesh, rpc.sign(rpc.issued))
    assert reply.next_page_token == ""


@pytest.mark.parametrize(("call", "token"), NOT_ISSUED)
async def test_a_token_the_listing_did_not_issue_is_invalid_argument_on_page_token(
    mesh: Mesh, call: Call, token: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(mesh, token)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert field_violations(caught.value).get("page_token"), "no BadRequest field violation on page_token"


@pytest.mark.parametrize(("call", "token"), CASES)
async def test_a_signed_but_malformed_position_is_invalid_argument_on_page_token(
    mesh: Mesh, call: Call, token: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(mesh, token)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert field_violations(caught.value).get("page_token"), "no BadRequest field violation on page_token"
