"""Traces end to end: a mesh with tracing on sends spans over OTLP to a real Jaeger, read back through
Jaeger's query API. Each request starts with a `traceparent` the test makes, so its trace is found by id.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from tests.support.jaeger import Jaeger, Trace
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.search import unique_word
from tests.support.users import sign_up_many

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def traced(tmp_path_factory: pytest.TempPathFactory, jaeger: Jaeger) -> AsyncIterator[Mesh]:
    """Every service and the gateway, tracing every request into the session's Jaeger."""
    mesh = Mesh(
        Path(tmp_path_factory.mktemp("traced")),
        extra_env={
            "SHUTTER_TRACING": "1",
            "SHUTTER_OTLP_ENDPOINT": jaeger.otlp_endpoint,
            "SHUTTER_TRACE_SAMPLE_RATIO": "1",
            # The SDK's batch delay (5 s by default): spans reach Jaeger soon after they end.
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
    )
    try:
        await mesh.start()
        mesh.start_gateway()
        await mesh.wait_gateway()
        yield mesh
    finally:
        await mesh.close()


def traceparent(sampled: bool = True) -> tuple[str, str]:
    """A new W3C trace context as a client would send it: (trace id, header value)."""
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-{'01' if sampled else '00'}"


async def trace_until(jaeger: Jaeger, trace_id: str, accept: Callable[[Trace], bool], timeout: float = 30) -> Trace:
    """Jaeger's copy of the trace once `accept` likes it (spans arrive in batches, per process)."""
    deadline = time.monotonic() + timeout
    found: Trace | None = None
    while time.monotonic() < deadline:
        found = await jaeger.trace(trace_id)
        if found is not None and accept(found):
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"trace {trace_id} incomplete: {found.services if found else 'absent'}\n{jaeger.log_tail()}")


def connected(found: Trace) -> bool:
    """Every span's parent has arrived: each process sends its spans in batches of its own, so a child
    can reach Jaeger before its parent (the gateway's root span ends last of all)."""
    return len(found.roots()) == 1


async def test_a_views_trace_holds_the_gateway_view_photo_like_comment_and_follow_spans(
    traced: Mesh, jaeger: Jaeger
) -> None:
    owner, viewer = await sign_up_many(traced, 2, "traceview")
    photo = await upload(traced, owner.token, owner.user_id, make_jpeg(30, 20))
    await like_pb2_grpc.LikeServiceStub(traced.channel("like")).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo.photo_id), metadata=viewer.metadata, timeout=10
    )
    await comment_pb2_grpc.CommentServiceStub(traced.channel("comment")).PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo.photo_id, text="traced"), metadata=viewer.metadata, timeout=10
    )

    trace_id, header = traceparent()
    async with httpx.AsyncClient(base_url=traced.gateway_url, timeout=10) as client:
        reply = await client.get(
            f"/v1/views/photos/{photo.photo_id}",
            headers={"Authorization": f"Bearer {viewer.token}", "traceparent": header},
        )
    assert reply.status_code == 200, reply.text

    # Follow answers the visibility policy's first question about this (viewer, owner) pair.
    wanted = {"gateway", "view", "photo", "like", "comment", "follow"}
    found = await trace_until(jaeger, trace_id, lambda t: wanted <= t.services and len(t.spans) >= 9 and connected(t))
    assert found.services == wanted
    # One root: the gateway's server span, named by the route template, never the raw path.
    [root] = found.roots()
    assert (root.service, root.kind, root.name) == ("gateway", "server", "GET /v1/views/photos/{photo_id}")
    # The view RPC is served under the gateway's call, and view's calls are served under its own.
    [view] = found.named("view", "/shutter.view.v1.ViewService/ViewPhoto")
    assert view.kind == "server"
    caller = found.parent(view)
    assert caller is not None and (caller.service, caller.kind) == ("gateway", "client")
    for service in ("photo", "like", "comment"):
        served = [s for s in found.spans if s.service == service and s.kind == "server"]
        assert served, service
        for span in served:
            client_span = found.parent(span)
            assert client_span is not None and client_span.service == "view", (service, client_span)
            assert found.parent(client_span) == view

    # The view's log line for this RPC carries the trace and its own span.
    lines = [json.loads(line) for line in (traced.logs / "view.log").read_text().splitlines() if line.startswith("{")]
    [rpc] = [line for line in lines if line.get("msg") == "rpc" and line.get("trace_id") == trace_id]
    assert rpc["span_id"] == view.span_id


async def test_an_uploads_trace_continues_through_the_relay_into_fanout_and_indexing(
    traced: Mesh, jaeger: Jaeger
) -> None:
    author, follower = await sign_up_many(traced, 2, "traceupload")
    await follower.follow(traced, author)

    trace_id, header = traceparent()
    async with httpx.AsyncClient(base_url=traced.gateway_url, timeout=30) as client:
        reply = await client.post(
            "/v1/photos",
            data={"title": "traced upload", "tags": [unique_word()]},
            files={"file": ("traced.jpg", make_jpeg(30, 20), "image/jpeg")},
            headers={"Authorization": f"Bearer {author.token}", "traceparent": header},
        )
    assert reply.status_code == 200, reply.text

    def reached(found: Trace) -> bool:
        handled = found.named("feed", "feed-fanout process") and found.named("search", "search-indexer process")
        # Each process sends its spans in batches of its own: follow's may come after the consumers'.
        asked_follow = any(span.service == "follow" and span.kind == "server" for span in found.spans)
        return bool(handled) and asked_follow and connected(found)

    found = await trace_until(jaeger, trace_id, reached)
    [root] = found.roots()
    assert (root.service, root.name) == ("gateway", "POST /v1/photos")
    [uploaded] = found.named("photo", "/shutter.photo.v1.PhotoService/UploadPhoto")
    assert uploaded.kind == "server"
    caller = found.parent(uploaded)
    assert caller is not None and (caller.service, caller.kind) == ("gateway", "client")
    [publish] = found.named("photo", "publish shutter.events.photo.posted")
    assert publish.kind == "producer"
    # The relay's publish is a child of the upload that wrote the event (through the outbox row).
    assert publish.parent_id == uploaded.span_id
    # Each consumer's handling is a child of the publish (through the NATS message headers).
    for service, name in (("feed", "feed-fanout process"), ("search", "search-indexer process")):
        [handled] = found.named(service, name)
        assert handled.kind == "consumer"
        assert handled.parent_id == publish.span_id
        assert handled.tags["messaging.destination.name"] == "shutter.events.photo.posted"
    # Fan-out's calls to follow happen inside its handling, so follow's spans are in the trace too.
    follow_calls = [s for s in found.spans if s.service == "follow" and s.kind == "server"]
    assert follow_calls
    for span in follow_calls:
        client_span = found.parent(span)
        assert client_span is not None and found.parent(client_span) == found.named("feed", "feed-fanout process")[0]


async def test_a_request_its_caller_did_not_sample_is_not_recorded_anywhere(traced: Mesh, jaeger: Jaeger) -> None:
    owner, viewer = await sign_up_many(traced, 2, "tracesample")
    # A photo each: view caches photo metadata for up to a second, and the sampled view must call photo.
    photos = [await upload(traced, owner.token, owner.user_id, make_jpeg(30, 20)) for _ in range(2)]
    unsampled, unsampled_header = traceparent(sampled=False)
    sampled, sampled_header = traceparent(sampled=True)
    async with httpx.AsyncClient(base_url=traced.gateway_url, timeout=10) as client:
        for photo, header in zip(photos, (unsampled_header, sampled_header), strict=True):
            reply = await client.get(
                f"/v1/views/photos/{photo.photo_id}",
                headers={"Authorization": f"Bearer {viewer.token}", "traceparent": header},
            )
            assert reply.status_code == 200
    # The sampled one, sent after, arriving whole means the unsampled one had every chance to arrive.
    await trace_until(jaeger, sampled, lambda t: {"gateway", "view", "photo"} <= t.services)
    await asyncio.sleep(0.5)
    assert await jaeger.trace(unsampled) is None
    # Not recorded, yet passed on: each hop's log line for the view names the caller's trace.
    for service in ("view", "like", "comment"):
        lines = (traced.logs / f"{service}.log").read_text().splitlines()
        logged = [json.loads(line) for line in lines if line.startswith("{") and unsampled in line]
        assert any(line.get("msg") == "rpc" and line.get("trace_id") == unsampled for line in logged), service
