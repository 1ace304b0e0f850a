"""Helpers for the like, comment and view integration tests: photos, events, RPC log lines."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import nats
from google.protobuf.message import Message

from services.runtime.events import message_id, subject_for
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.users import Identity


async def new_photo(mesh: Mesh, owner: Identity, title: str = "") -> photo_pb2.Photo:
    return await upload(mesh, owner.token, owner.user_id, make_jpeg(32, 24), title=title)


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
