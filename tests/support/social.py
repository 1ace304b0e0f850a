"""Helpers for the like, comment and view integration tests: users, photos, events, RPC log lines."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import nats
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.runtime.events import message_id, subject_for
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload

T = TypeVar("T")

# Test users are spread far apart so tests sharing the session mesh never see each other's data.
_user_ids = itertools.count(random.randrange(10**9, 2 * 10**9), 1)


def new_user() -> int:
    return next(_user_ids)


async def new_photo(mesh: Mesh, owner: int, title: str = "") -> photo_pb2.Photo:
    return await upload(mesh, mesh.user_token(owner), owner, make_jpeg(32, 24), title=title)


def violated_fields(exc: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by an INVALID_ARGUMENT's google.rpc.BadRequest details."""
    status = rpc_status.from_call(exc)
    fields: list[str] = []
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields.extend(v.field for v in bad_request.field_violations)
    return fields


async def eventually(check: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 15) -> T:
    """Poll `check` until `accept` likes its answer (event-driven effects are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if accept(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def publish_event(mesh: Mesh, event: Message) -> None:
    """Put an event on JetStream the way a service's outbox relay does (for events whose emitter is elsewhere)."""
    connection = await nats.connect(mesh.env["SHUTTER_NATS_URL"])
    try:
        await connection.jetstream().publish(
            subject_for(event), event.SerializeToString(), headers={"Nats-Msg-Id": message_id(event)}
        )
    finally:
        await connection.close()


async def stream_events(
    mesh: Mesh, kind: type[Message], accept: Callable[[Any], bool], timeout: float = 10
) -> list[Any]:
    """Events of `kind` on the stream that `accept` keeps, waiting up to `timeout` for at least one."""
    connection = await nats.connect(mesh.env["SHUTTER_NATS_URL"])
    found: list[Any] = []
    try:
        subscription = await connection.jetstream().subscribe(subject_for(kind()), ordered_consumer=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = await subscription.next_msg(timeout=0.5)
            except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either
                if found:
                    break
                continue
            event = kind.FromString(message.data)
            if accept(event):
                found.append(event)
        await subscription.unsubscribe()
    finally:
        await connection.close()
    return found


def user_deleted(user_id: int) -> events_pb2.UserDeleted:
    meta = events_pb2.EventMeta(event_id=random.randrange(1, 2**62), source="user-test")
    return events_pb2.UserDeleted(meta=meta, user_id=user_id)


def rpc_lines(mesh: Mesh, service: str, request_id: str) -> list[dict[str, Any]]:
    """The JSON `rpc` log lines `service` wrote for one request id."""
    lines = []
    for raw in (mesh.logs / f"{service}.log").read_text(errors="replace").splitlines():
        if request_id not in raw:
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if entry.get("msg") == "rpc" and entry.get("request_id") == request_id:
            lines.append(entry)
    return lines
