"""Server-Sent Events through the gateway: WatchNotifications and WatchFeed as text/event-stream, with
event ids to resume from (Last-Event-ID), heartbeats on a quiet stream, refusals as plain HTTP errors,
and an `error` event ending the stream when the token expires."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.runtime.auth import TokenAuthority
from services.runtime.ids import min_id_at
from tests.support.mesh import AUTH_SECRET, Mesh
from tests.support.social import new_photo
from tests.support.sse import Stream
from tests.support.users import SignedUp, sign_up_many

LIVE_DEADLINE = 5.0


@contextlib.asynccontextmanager
async def sse(http: httpx.AsyncClient, path: str, who: SignedUp | None, **headers: str) -> AsyncIterator[Stream]:
    accepts = {"Accept": "text/event-stream", "Accept-Encoding": "zstd, br, gzip"}
    sent = {**(who.headers if who else {}), **accepts, **headers}
    async with http.stream("GET", path, headers=sent, timeout=httpx.Timeout(30, read=60)) as response:
        yield Stream(response)


def is_like_by(who: SignedUp) -> object:
    return lambda event: event.data.get("notification", {}).get("actorId") == str(who.user_id)


async def like_over_http(http: httpx.AsyncClient, photo_id: int, who: SignedUp) -> None:
    response = await http.put(f"/v1/photos/{photo_id}/likes/{who.user_id}", headers=who.headers)
    assert response.status_code == 200, response.text


async def test_a_like_arrives_as_an_event_and_last_event_id_resumes(http: httpx.AsyncClient, mesh: Mesh) -> None:
    owner, ada, bob = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    path = f"/v1/users/{owner.user_id}/notifications:watch"
    async with sse(http, path, owner) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-cache"
        # Never compressed: a compressor kept per open stream would cost megabytes per watcher.
        assert "content-encoding" not in stream.response.headers
        first = await stream.next_event()
        assert first is not None and first.data["unreadCount"] == "0" and first.id == ""
        started = time.monotonic()
        await like_over_http(http, photo.photo_id, ada)
        event = await stream.until(is_like_by(ada), timeout=LIVE_DEADLINE)
        print(f"like → SSE: {(time.monotonic() - started) * 1000:.0f} ms")
        assert event.id == event.data["position"] == event.data["notification"]["notificationId"]
        assert event.data["notification"]["type"] == "NOTIFICATION_TYPE_LIKE"
        seen = event.id

    await like_over_http(http, photo.photo_id, bob)  # while disconnected
    async with sse(http, path, owner, **{"Last-Event-ID": seen}) as again:
        missed = await again.until(is_like_by(bob))
        assert int(missed.id) > int(seen)
        assert not any(is_like_by(ada)(event) for event in again.events)  # nothing before the id again

    async with sse(http, path, owner, **{"Last-Event-ID": "yesterday"}) as bad:
        assert bad.response.status_code == 400


async def test_refusals_are_http_errors_before_any_event(http: httpx.AsyncClient, mesh: Mesh) -> None:
    owner, other = await sign_up_many(mesh, 2)
    async with sse(http, f"/v1/users/{owner.user_id}/notifications:watch", None) as anonymous:
        assert anonymous.response.status_code == 401
    async with sse(http, f"/v1/users/{owner.user_id}/feed:watch", other) as someone_elses:
        assert someone_elses.response.status_code == 403
        await someone_elses.response.aread()
        assert someone_elses.response.json()["code"] == 7


async def test_the_feed_streams_a_followed_authors_post(http: httpx.AsyncClient, mesh: Mesh) -> None:
    author, reader = await sign_up_many(mesh, 2)
    await reader.follow(mesh, author)
    after = str(min_id_at(int(time.time() * 1000) - 1000))  # the post arrives live, or caught up if late
    async with sse(http, f"/v1/users/{reader.user_id}/feed:watch", reader, **{"Last-Event-ID": after}) as stream:
        photo = await new_photo(mesh, author)
        event = await stream.until(lambda e: e.id == str(photo.photo_id), timeout=LIVE_DEADLINE)
        assert event.data["item"]["authorId"] == str(author.user_id)


async def test_the_stream_ends_with_an_error_event_when_the_token_expires(http: httpx.AsyncClient, mesh: Mesh) -> None:
    [owner] = await sign_up_many(mesh, 1)
    token, _ = TokenAuthority(AUTH_SECRET, 2).issue_user_token(owner.user_id)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    started = time.monotonic()
    async with http.stream("GET", f"/v1/users/{owner.user_id}/notifications:watch", headers=headers) as response:
        assert response.status_code == 200
        stream = Stream(response)
        ended = await stream.until(lambda event: event.name == "error", timeout=20)
        assert ended.data["code"] == 16 and "expired" in ended.data["message"]
        assert await stream.next_event() is None  # and the response ends
    assert time.monotonic() - started < 15


@pytest.fixture(scope="module")
async def quick_heartbeat_gateway(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A second gateway on the session's mesh whose quiet streams get a heartbeat every 0.2 s."""
    shared = {key: value for key, value in mesh.env.items() if key.startswith("SHUTTER_") and "GATEWAY" not in key}
    second = Mesh(
        Path(tmp_path_factory.mktemp("heartbeat")),
        services=(),
        extra_env={**shared, "SHUTTER_GATEWAY_EVENTS_HEARTBEAT_SECONDS": "0.2"},
    )
    second.start_gateway()
    try:
        await second.wait_gateway()
        yield second.gateway_url
    finally:
        second.stop("gateway")


async def test_a_quiet_stream_gets_heartbeats(quick_heartbeat_gateway: str, mesh: Mesh) -> None:
    [reader] = await sign_up_many(mesh, 1)
    async with (
        httpx.AsyncClient(base_url=quick_heartbeat_gateway, timeout=30) as client,
        sse(client, f"/v1/users/{reader.user_id}/feed:watch", reader) as stream,
    ):
        assert stream.response.status_code == 200
        with contextlib.suppress(TimeoutError):
            await stream.next_event(timeout=1.5)  # nothing happens in this feed
        assert stream.comments.count("heartbeat") >= 3
