"""The authorization matrix over HTTP, through the gateway: generated from the same table as the gRPC half
(tests/support/privacy.py EXPECTED); only the requests differ. The scenes are set up over gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.support.feeds import feed_has
from tests.support.mesh import Mesh
from tests.support.privacy import (
    CASES,
    DENIED,
    HIDDEN,
    NOT_FOUND,
    OK,
    SHOWN,
    STATES,
    Scene,
    case_id,
    make_scene,
)
from tests.support.waiting import eventually

_STATUSES = {404: NOT_FOUND, 403: DENIED}


def _shown(found: bool) -> str:
    return SHOWN if found else HIDDEN


def _ids(items: list[dict[str, Any]], key: str) -> set[str]:
    return {item.get(key, "") for item in items}


# Each RPC: (the request path for a scene, what a 200 answer means).
ROUTES: dict[str, tuple[Callable[[Scene], str], Callable[[Scene, Any], str]]] = {
    "photo.GetPhoto": (lambda s: f"/v1/photos/{s.photo.photo_id}", lambda s, body: OK),
    "photo.BatchGetPhotos": (
        lambda s: f"/v1/photos:batchGet?photoIds={s.photo.photo_id}",
        lambda s, body: _shown(str(s.photo.photo_id) in _ids(body.get("photos", []), "photoId")),
    ),
    "photo.DownloadPhoto": (lambda s: f"/v1/photos/{s.photo.photo_id}/content?variant=thumbnail", lambda s, body: OK),
    "photo.ListUserPhotos": (
        lambda s: f"/v1/users/{s.author.user_id}/photos",
        lambda s, body: _shown(str(s.photo.photo_id) in _ids(body.get("photos", []), "photoId")),
    ),
    "view.ViewPhoto": (lambda s: f"/v1/views/photos/{s.photo.photo_id}", lambda s, body: OK),
    "view.ViewUserPhotos": (
        lambda s: f"/v1/views/users/{s.author.user_id}/photos",
        lambda s, body: _shown(
            str(s.photo.photo_id) in {v.get("photo", {}).get("photoId") for v in body.get("views", [])}
        ),
    ),
    "feed.GetFeed": (
        lambda s: f"/v1/users/{s.viewer.user_id}/feed",
        lambda s, body: _shown(str(s.photo.photo_id) in _ids(body.get("items", []), "photoId")),
    ),
    "follow.ListFollowers": (lambda s: f"/v1/users/{s.author.user_id}/followers", lambda s, body: OK),
    "follow.ListFollowees": (lambda s: f"/v1/users/{s.author.user_id}/following", lambda s, body: OK),
    "follow.GetFollowCounts": (lambda s: f"/v1/users/{s.author.user_id}/follow-counts", lambda s, body: OK),
    "follow.CheckFollowing": (
        lambda s: f"/v1/users/{s.author.user_id}/following:check?followeeIds={s.viewer.user_id}",
        lambda s, body: OK,
    ),
    "like.GetLikeSummary": (
        lambda s: f"/v1/photos/{s.photo.photo_id}/likes:summary",
        lambda s, body: _shown(body["summary"].get("likeCount") == "1"),
    ),
    "like.BatchGetLikeSummaries": (
        lambda s: f"/v1/likes:batchSummary?photoIds={s.photo.photo_id}",
        lambda s, body: _shown(body["summaries"][0].get("likeCount") == "1"),
    ),
    "like.ListLikers": (
        lambda s: f"/v1/photos/{s.photo.photo_id}/likes",
        lambda s, body: _shown(str(s.author.user_id) in _ids(body.get("likers", []), "userId")),
    ),
    "comment.ListComments": (
        lambda s: f"/v1/photos/{s.photo.photo_id}/comments",
        lambda s, body: _shown(str(s.author.user_id) in _ids(body.get("comments", []), "userId")),
    ),
    "comment.BatchGetCommentCounts": (
        lambda s: f"/v1/comments:batchCount?photoIds={s.photo.photo_id}",
        lambda s, body: _shown(body["counts"][0].get("commentCount") == "1"),
    ),
    "search.SearchPhotos": (
        lambda s: f"/v1/search/photos?tag={s.tag}",
        lambda s, body: _shown(str(s.photo.photo_id) in _ids(body.get("hits", []), "photoId")),
    ),
    "user.GetUser": (
        lambda s: f"/v1/users/{s.author.user_id}",
        lambda s, body: _shown(body["user"].get("bio") == s.bio),
    ),
    "user.BatchGetUsers": (
        lambda s: f"/v1/users:batchGet?userIds={s.author.user_id}&userIds={s.viewer.user_id}",
        lambda s, body: _batch_user(s, body.get("users", [])),
    ),
}


def _batch_user(scene: Scene, users: list[dict[str, Any]]) -> str:
    """NOT_FOUND: the author is left out of the batch (the viewer, asked too, is always in it)."""
    found = {user["userId"]: user for user in users}
    assert str(scene.viewer.user_id) in found
    author = found.get(str(scene.author.user_id))
    if author is None:
        return NOT_FOUND
    assert author["username"] == scene.author.username
    return _shown(author.get("bio") == scene.bio)


@pytest.fixture(scope="module")
async def scenes(mesh: Mesh, gateway: str) -> dict[str, Scene]:
    async def wait_in_feed(viewer: object, photo_id: int) -> None:
        await eventually(lambda: feed_has(mesh, viewer, photo_id), timeout=30)  # type: ignore[arg-type]

    built = await asyncio.gather(*(make_scene(mesh, state, wait_in_feed) for state in STATES))
    return dict(zip(STATES, built, strict=True))


@pytest.fixture(scope="module")
async def client(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        yield http


async def answer(http: httpx.AsyncClient, rpc: str, scene: Scene) -> str:
    path, meaning = ROUTES[rpc]
    response = await http.get(path(scene), headers=scene.viewer.headers)
    if response.status_code in _STATUSES:
        return _STATUSES[response.status_code]
    assert response.status_code == 200, (response.status_code, response.text[:300])
    if rpc == "photo.DownloadPhoto":
        assert response.content
        return OK
    return meaning(scene, response.json())


def test_every_read_rpc_in_the_table_has_a_route() -> None:
    assert set(ROUTES) == {rpc for rpc, _, _ in CASES}


@pytest.mark.parametrize(("rpc", "state", "expected"), CASES, ids=[case_id(*case) for case in CASES])
async def test_matrix_over_http(
    client: httpx.AsyncClient, scenes: dict[str, Scene], rpc: str, state: str, expected: str
) -> None:
    scene = scenes[state]

    async def holds() -> None:
        assert await answer(client, rpc, scene) == expected

    await eventually(holds, timeout=10, interval=0.1)
