"""The server interceptor over real gRPC, in process: the runtime's own server (start_server, as every service
starts it) serving a probe servicer on a free loopback port. Authentication, readiness, request ids, every
row of the error table, cancellation, deadlines, the access log line, and who a downstream call runs as."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cassandra.cluster import NoHostAvailable
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from nats.errors import NoServersError
from prometheus_client import REGISTRY

import services.runtime.cql
import services.runtime.sqlite  # noqa: F401 - registers SQLite's faults, as a service on SQLite does
from services.like.store import PhotoGone
from services.runtime import callctx
from services.runtime.auth import TokenAuthority
from services.runtime.channels import CALLER, SERVICE, Channels
from services.runtime.config import Settings
from services.runtime.errors import (
    STATUS_TABLE,
    AlreadyExists,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    bad_request,
)
from services.runtime.events import EventBus, is_transient
from services.runtime.revocation import DeletedUsers
from services.runtime.server import Runtime
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.in_process import InProcessServer, serving
from tests.support.mesh import AUTH_SECRET, auth
from tests.support.rich_status import field_violations, precondition_violations, rich_status
from tests.support.waiting import eventually

GET_PHOTO = "/shutter.photo.v1.PhotoService/GetPhoto"
# How much more time than its caller gave a handler can find left: gRPC core reads the server's clock once per
# turn of its poller, so a deadline can be computed from a moment already some milliseconds past (seen: 9 ms).
CLOCK_SLACK_MS = 50
DOWNLOAD = "/shutter.photo.v1.PhotoService/DownloadPhoto"


@dataclass(frozen=True)
class Seen:
    """What a handler found in its call context."""

    principal: callctx.Principal | None
    request_id: str | None
    time_remaining: float | None


Behaviour = Callable[[photo_pb2.GetPhotoRequest, grpc.aio.ServicerContext], Awaitable[photo_pb2.GetPhotoResponse]]


class Probe(photo_pb2_grpc.PhotoServiceServicer):
    """GetPhoto does what the test says (`behaviour`); DownloadPhoto streams until the client goes away."""

    def __init__(self) -> None:
        self.behaviour: Behaviour = self.answer
        self.seen: list[Seen] = []
        self.streamed: list[Seen] = []  # DownloadPhoto's callers
        self.stream_closed = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def answer(self, request: photo_pb2.GetPhotoRequest, context: Any) -> photo_pb2.GetPhotoResponse:
        return photo_pb2.GetPhotoResponse(photo=photo_pb2.Photo(photo_id=request.photo_id))

    async def GetPhoto(self, request: photo_pb2.GetPhotoRequest, context: Any) -> photo_pb2.GetPhotoResponse:
        self.seen.append(Seen(callctx.principal(), callctx.request_id(), callctx.time_remaining()))
        try:
            return await self.behaviour(request, context)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def DownloadPhoto(self, request: Any, context: Any) -> AsyncIterator[photo_pb2.DownloadPhotoResponse]:
        self.streamed.append(Seen(callctx.principal(), callctx.request_id(), callctx.time_remaining()))
        try:
            if request.photo_id == 7:  # a short answer, for downstream streaming calls
                yield photo_pb2.DownloadPhotoResponse(chunk=b"x")
                return
            while True:
                yield photo_pb2.DownloadPhotoResponse(chunk=b"x" * 1024)
                await asyncio.sleep(0.01)
        finally:
            self.stream_closed.set()


def raising(exc: BaseException) -> Behaviour:
    async def behaviour(request: Any, context: Any) -> photo_pb2.GetPhotoResponse:
        raise exc

    return behaviour


@pytest.fixture
async def probe(tmp_path: Path) -> AsyncIterator[tuple[InProcessServer, Probe]]:
    servicer = Probe()
    async with serving(tmp_path, "photo", _adding(servicer)) as server:
        yield server, servicer


def _adding(servicer: Probe) -> Callable[[Runtime], None]:
    def add(runtime: Runtime) -> None:
        descriptor = photo_pb2.DESCRIPTOR.services_by_name["PhotoService"]
        runtime.add_servicer(photo_pb2_grpc.add_PhotoServiceServicer_to_server, servicer, descriptor)

    return add


async def get_photo(server: InProcessServer, metadata: Any = None, **options: Any) -> photo_pb2.GetPhotoResponse:
    metadata = server.auth(user_id=7) if metadata is None else metadata
    stub = server.stub(photo_pb2_grpc.PhotoServiceStub)
    return await stub.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=5), metadata=metadata, **options)


async def refused(server: InProcessServer, metadata: Any = None, **options: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get_photo(server, metadata, **options)
    return caught.value


def rpc_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "shutter.rpc"]


def own_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the server logged about a failure, beyond the access line."""
    return [record for record in caplog.records if record.name in ("shutter.error", "shutter.storage")]


# -- authentication ----------------------------------------------------------------------------------------


async def test_a_valid_token_reaches_the_handler_as_its_principal(probe: tuple[InProcessServer, Probe]) -> None:
    server, servicer = probe
    reply = await get_photo(server, server.auth(user_id=42))
    assert reply.photo.photo_id == 5
    assert servicer.seen[0].principal is not None and servicer.seen[0].principal.user_id == 42


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "missing 'authorization: Bearer <token>' metadata"),
        (auth(TokenAuthority("another-secret-" + "y" * 40, 3600).issue_user_token(42)[0]), "invalid access token"),
        (auth(TokenAuthority(AUTH_SECRET, -60).issue_user_token(42)[0]), "access token expired"),
        ((("authorization", "Basic YWxpY2U6cHc="),), "authorization metadata must be 'Bearer <token>'"),
    ],
    ids=["missing", "forged", "expired", "not-bearer"],
)
async def test_calls_without_a_valid_token_are_unauthenticated_before_the_handler(
    probe: tuple[InProcessServer, Probe], metadata: Any, message: str
) -> None:
    server, servicer = probe
    error = await refused(server, metadata)
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, message)
    assert servicer.seen == []


async def test_a_deleted_users_token_is_refused_and_others_are_not(tmp_path: Path) -> None:
    """The real DeletedUsers, from the snapshot a restarted process finds: it refuses without NATS."""
    snapshot = tmp_path / "deleted-users.json"
    now = time.time()
    snapshot.write_text(
        json.dumps({"version": 1, "watched_until": now, "tokens_not_before": None, "deleted": {"42": now}})
    )
    deleted = DeletedUsers(EventBus("nats://127.0.0.1:1", "never-started"), 3600, snapshot)
    await deleted.start()
    servicer = Probe()
    try:
        async with serving(tmp_path, "photo", _adding(servicer), deleted_users=deleted) as server:
            error = await refused(server, server.auth(user_id=42))
            assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "account deleted")
            assert (await get_photo(server, server.auth(user_id=43))).photo.photo_id == 5
    finally:
        await deleted.stop()
    assert [seen.principal.user_id for seen in servicer.seen if seen.principal] == [43]


async def test_health_and_reflection_need_no_token(probe: tuple[InProcessServer, Probe]) -> None:
    server, _ = probe
    reply = await health_pb2_grpc.HealthStub(server.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert "shutter.photo.v1.PhotoService" in await _reflected_services(server)


async def _reflected_services(server: InProcessServer) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in stub.ServerReflectionInfo(iter([request]), timeout=5):
        return [service.name for service in reply.list_services_response.service]
    return []


# -- readiness ---------------------------------------------------------------------------------------------


async def test_before_its_components_start_the_server_refuses_calls_but_answers_health(tmp_path: Path) -> None:
    servicer = Probe()
    async with serving(tmp_path, "photo", _adding(servicer), ready=False) as server:
        error = await refused(server)
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, "service is starting")
        health = health_pb2_grpc.HealthStub(server.channel)
        assert (await health.Check(health_pb2.HealthCheckRequest(), timeout=5)).status == (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )
        assert "shutter.photo.v1.PhotoService" in await _reflected_services(server)
        await server.ready()
        assert (await get_photo(server)).photo.photo_id == 5
    assert len(servicer.seen) == 1


# -- request ids and the access log ------------------------------------------------------------------------


async def test_the_callers_request_id_is_the_handlers_and_the_log_lines(
    probe: tuple[InProcessServer, Probe], caplog: pytest.LogCaptureFixture
) -> None:
    server, servicer = probe
    caplog.set_level(logging.INFO, logger="shutter")
    await get_photo(server, (*server.auth(user_id=42), ("x-request-id", "req-123")), timeout=3)
    [line] = await eventually(lambda: rpc_lines(caplog), timeout=5)
    assert servicer.seen[0].request_id == "req-123"
    assert (line.method, line.status, line.request_id, line.user_id) == (GET_PHOTO, "OK", "req-123", 42)  # type: ignore[attr-defined]
    # The server reads its deadline on gRPC core's clock, which can lag the client's by some milliseconds.
    assert 0 < line.deadline_ms <= 3000 + CLOCK_SLACK_MS and line.duration_ms >= 0  # type: ignore[attr-defined]


async def test_a_call_without_a_request_id_gets_one(
    probe: tuple[InProcessServer, Probe], caplog: pytest.LogCaptureFixture
) -> None:
    server, servicer = probe
    caplog.set_level(logging.INFO, logger="shutter")
    await get_photo(server)
    [line] = await eventually(lambda: rpc_lines(caplog), timeout=5)
    assert re.fullmatch(r"[0-9a-f]{32}", servicer.seen[0].request_id or "")
    assert line.request_id == servicer.seen[0].request_id and line.deadline_ms is None  # type: ignore[attr-defined]


async def test_a_request_that_is_not_protobuf_is_invalid_argument(probe: tuple[InProcessServer, Probe]) -> None:
    server, servicer = probe
    call = server.channel.unary_unary(GET_PHOTO)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(b"\xff\xff\xff\xff", metadata=server.auth(user_id=7), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "the request is not a valid shutter.photo.v1.GetPhotoRequest message"
    assert servicer.seen == []


# -- the error table, row by row ---------------------------------------------------------------------------


def _sqlite_full(tmp_path: Path) -> sqlite3.Error:
    path = tmp_path / "full.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (v BLOB)")
        conn.commit()
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        try:
            conn.execute("INSERT INTO t VALUES (?)", (os.urandom(20_000),))
        except sqlite3.Error as exc:
            return exc
    raise AssertionError("SQLite accepted the write")


def _sqlite_locked(tmp_path: Path) -> sqlite3.Error:
    path = tmp_path / "locked.db"
    with (
        contextlib.closing(sqlite3.connect(path, isolation_level=None)) as holder,
        contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as waiter,
    ):
        holder.execute("BEGIN IMMEDIATE")
        try:
            waiter.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return exc
    raise AssertionError("SQLite gave a second writer the lock")


def _peer(code: grpc.StatusCode, message: str, *details: any_pb2.Any) -> grpc.aio.AioRpcError:
    """What a peer's answer looks like to the client stub (rich when it has details)."""
    trailing = grpc.aio.Metadata()
    if details:
        rich = status_pb2.Status(code=code.value[0], message=message, details=list(details))
        trailing.add("grpc-status-details-bin", rich.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details=message)


@dataclass(frozen=True)
class Row:
    """An exception a handler raises, and how the table says it is answered."""

    raised: Callable[[Path], BaseException]
    code: grpc.StatusCode
    message: str | re.Pattern[str]
    retryable: bool
    logged: tuple[str, int, str] | None = None  # (logger, level, message) beyond the access line
    details: Callable[[grpc.aio.AioRpcError], None] = lambda error: None


def _names_title(error: grpc.aio.AioRpcError) -> None:
    assert field_violations(error) == {"title": "too long"}


def _names_the_key(error: grpc.aio.AioRpcError) -> None:
    assert precondition_violations(error) == [("IDEMPOTENCY_KEY_REUSED", "metadata.idempotency_key")]


def _retry_in_two_seconds(error: grpc.aio.AioRpcError) -> None:
    [info] = [d for d in rich_status(error)["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    assert info["retryDelay"] == "2s"


STORAGE_FAULT = ("shutter.storage", logging.ERROR, "storage fault")
OUTAGE = ("shutter.error", logging.WARNING, "dependency unavailable")
UNHANDLED = ("shutter.error", logging.ERROR, "unhandled error")
INTERNAL = re.compile(r"internal error \(request id [0-9a-f]{32}\)")

ROWS: dict[str, Row] = {
    # ServiceErrors, raised on purpose: their code and details, nothing logged beyond the access line.
    "invalid-argument": Row(
        lambda _: InvalidArgument("title", "too long"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: too long",
        False,
        details=_names_title,
    ),
    "not-found": Row(lambda _: NotFound("photo 5 not found"), grpc.StatusCode.NOT_FOUND, "photo 5 not found", False),
    "a-store-exception": Row(lambda _: PhotoGone(5), grpc.StatusCode.NOT_FOUND, "photo 5 not found", False),
    "already-exists": Row(lambda _: AlreadyExists("taken"), grpc.StatusCode.ALREADY_EXISTS, "taken", False),
    "permission-denied": Row(
        lambda _: PermissionDenied("not yours"), grpc.StatusCode.PERMISSION_DENIED, "not yours", False
    ),
    "unauthenticated": Row(lambda _: Unauthenticated("sign in"), grpc.StatusCode.UNAUTHENTICATED, "sign in", False),
    "failed-precondition": Row(
        lambda _: FailedPrecondition(
            "key reused", ("IDEMPOTENCY_KEY_REUSED", "metadata.idempotency_key", "other bytes")
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "key reused",
        False,
        details=_names_the_key,
    ),
    "resource-exhausted": Row(
        lambda _: ResourceExhausted("too many at once", retry_after=2),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too many at once",
        True,
        details=_retry_in_two_seconds,
    ),
    "unavailable": Row(lambda _: Unavailable("busy"), grpc.StatusCode.UNAVAILABLE, "busy", True),
    "deadline-exceeded": Row(lambda _: DeadlineExceeded("late"), grpc.StatusCode.DEADLINE_EXCEEDED, "late", True),
    "data-loss": Row(lambda _: DataLoss("bytes gone"), grpc.StatusCode.DATA_LOSS, "bytes gone", False),
    "unimplemented": Row(lambda _: Unimplemented("not yet"), grpc.StatusCode.UNIMPLEMENTED, "not yet", False),
    # A peer's answer that reached the handler raw: relayed codes keep code and details, others are ours.
    "peer-invalid-argument": Row(
        lambda _: _peer(grpc.StatusCode.INVALID_ARGUMENT, "title: too long", bad_request([("title", "too long")])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: too long",
        False,
        details=_names_title,
    ),
    "peer-unavailable": Row(
        lambda _: _peer(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; ipv4:10.0.0.7:50053"),
        grpc.StatusCode.UNAVAILABLE,
        "a service this call needs is unavailable",
        True,
    ),
    "peer-already-exists": Row(
        lambda _: _peer(grpc.StatusCode.ALREADY_EXISTS, "exists"), grpc.StatusCode.INTERNAL, INTERNAL, False, UNHANDLED
    ),
    "peer-aborted": Row(
        lambda _: _peer(grpc.StatusCode.ABORTED, "try again"), grpc.StatusCode.INTERNAL, INTERNAL, True, UNHANDLED
    ),
    # Faults of our own storage: the server's, never the request's; logged once without a traceback.
    "no-space": Row(
        lambda _: OSError(errno.ENOSPC, "No space left on device"),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "the server is out of storage space; try again later",
        True,
        STORAGE_FAULT,
    ),
    "read-only-disk": Row(
        lambda _: OSError(errno.EROFS, "Read-only file system"),
        grpc.StatusCode.UNAVAILABLE,
        "the server could not use its storage; try again later",
        True,
        STORAGE_FAULT,
    ),
    "sqlite-full": Row(
        _sqlite_full,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "the server is out of storage space; try again later",
        True,
        STORAGE_FAULT,
    ),
    # Dependencies that are down: retryable, one WARNING line.
    "sqlite-locked": Row(
        _sqlite_locked, grpc.StatusCode.UNAVAILABLE, "the database is unavailable; try again later", True, OUTAGE
    ),
    "cql-no-host": Row(
        lambda _: NoHostAvailable("Unable to connect to any servers", {}),
        grpc.StatusCode.UNAVAILABLE,
        "the database is unavailable; try again later",
        True,
        OUTAGE,
    ),
    "nats": Row(
        lambda _: NoServersError(), grpc.StatusCode.UNAVAILABLE, "NATS is unavailable; try again later", True, OUTAGE
    ),
    "connection-refused": Row(
        lambda _: ConnectionRefusedError(),
        grpc.StatusCode.UNAVAILABLE,
        "a dependency is unavailable; try again later",
        True,
        OUTAGE,
    ),
    "timeout": Row(
        lambda _: TimeoutError(),
        grpc.StatusCode.UNAVAILABLE,
        "a dependency is unavailable; try again later",
        True,
        OUTAGE,
    ),
    # Code, not data: UNIMPLEMENTED naming the method; anything else INTERNAL with only the request id.
    "not-implemented": Row(
        lambda _: NotImplementedError(),
        grpc.StatusCode.UNIMPLEMENTED,
        f"{GET_PHOTO} is not implemented yet",
        False,
    ),
    "a-bug": Row(lambda _: ValueError("secret internals"), grpc.StatusCode.INTERNAL, INTERNAL, False, UNHANDLED),
    "an-error-without-an-errno": Row(
        lambda _: OSError("image file is truncated"), grpc.StatusCode.INTERNAL, INTERNAL, False, UNHANDLED
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
async def test_every_row_of_the_error_table(
    probe: tuple[InProcessServer, Probe], row: Row, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, servicer = probe
    caplog.set_level(logging.INFO, logger="shutter")
    exc = row.raised(tmp_path)
    servicer.behaviour = raising(exc)
    error = await refused(server)

    assert error.code() == row.code, error.details()
    if isinstance(row.message, re.Pattern):
        assert row.message.fullmatch(error.details() or ""), error.details()
    else:
        assert error.details() == row.message
    row.details(error)
    assert "secret internals" not in (error.details() or "") and "10.0.0.7" not in (error.details() or "")
    [access] = await eventually(lambda: rpc_lines(caplog), timeout=5)  # written as the handler's task ends
    assert access.status == row.code.name  # type: ignore[attr-defined]
    logged = [(r.name, r.levelno, r.getMessage()) for r in own_lines(caplog)]
    assert logged == ([row.logged] if row.logged else [])
    for record in own_lines(caplog):
        assert record.request_id == access.request_id  # type: ignore[attr-defined]
        assert (record.exc_info is not None) == (row.logged == UNHANDLED)
    # The event consumers read the same table: retryable failures are retried for as long as they last.
    assert is_transient(exc) is row.retryable


def test_the_table_says_something_about_every_status_code() -> None:
    assert set(STATUS_TABLE) == set(grpc.StatusCode)


async def test_a_handlers_own_abort_is_passed_on_untouched(probe: tuple[InProcessServer, Probe]) -> None:
    server, servicer = probe

    async def aborting(request: Any, context: grpc.aio.ServicerContext) -> photo_pb2.GetPhotoResponse:
        await context.abort(grpc.StatusCode.OUT_OF_RANGE, "past the end")
        raise AssertionError("abort returned")

    servicer.behaviour = aborting
    error = await refused(server)
    assert (error.code(), error.details()) == (grpc.StatusCode.OUT_OF_RANGE, "past the end")


# -- cancellation and deadlines ----------------------------------------------------------------------------


async def test_a_client_that_cancels_cancels_the_handler_and_is_logged_as_cancelled(
    probe: tuple[InProcessServer, Probe], caplog: pytest.LogCaptureFixture
) -> None:
    server, servicer = probe
    caplog.set_level(logging.INFO, logger="shutter")
    started = asyncio.Event()

    async def forever(request: Any, context: Any) -> photo_pb2.GetPhotoResponse:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    servicer.behaviour = forever
    call = server.stub(photo_pb2_grpc.PhotoServiceStub).GetPhoto(
        photo_pb2.GetPhotoRequest(photo_id=5), metadata=server.auth(user_id=7)
    )
    await asyncio.wait_for(started.wait(), 5)
    call.cancel()
    await asyncio.wait_for(servicer.cancelled.wait(), 5)
    await eventually(lambda: rpc_lines(caplog), timeout=5)
    assert [line.status for line in rpc_lines(caplog)] == ["CANCELLED"]  # type: ignore[attr-defined]
    assert own_lines(caplog) == []  # a client walking away is not an error


async def test_a_client_that_leaves_a_stream_closes_the_handlers_generator(
    probe: tuple[InProcessServer, Probe], caplog: pytest.LogCaptureFixture
) -> None:
    server, servicer = probe
    caplog.set_level(logging.INFO, logger="shutter")
    call = server.stub(photo_pb2_grpc.PhotoServiceStub).DownloadPhoto(
        photo_pb2.DownloadPhotoRequest(photo_id=5), metadata=server.auth(user_id=7)
    )
    assert (await call.read()).chunk
    call.cancel()
    await asyncio.wait_for(servicer.stream_closed.wait(), 5)
    await eventually(lambda: rpc_lines(caplog), timeout=5)
    assert [(line.method, line.status) for line in rpc_lines(caplog)] == [(DOWNLOAD, "CANCELLED")]  # type: ignore[attr-defined]
    assert own_lines(caplog) == []


async def test_a_handler_past_its_deadline_is_deadline_exceeded_for_the_caller(
    probe: tuple[InProcessServer, Probe],
) -> None:
    server, servicer = probe

    async def slow(request: Any, context: Any) -> photo_pb2.GetPhotoResponse:
        await asyncio.sleep(5)
        raise AssertionError("not cancelled at the deadline")

    servicer.behaviour = slow
    error = await refused(server, timeout=0.2)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def _peers(server: InProcessServer) -> Channels:
    """Channels of a process that calls photo (like), pointed at the in-process server."""
    settings = Settings.from_env(
        {"SHUTTER_AUTH_SECRET": AUTH_SECRET, "SHUTTER_PHOTO_ADDR": server.address, "SHUTTER_DATA_DIR": "unused"}
    )
    return Channels("like", settings, TokenAuthority(AUTH_SECRET, 3600))


async def test_a_downstream_call_gets_no_more_time_than_its_caller_has_left(
    probe: tuple[InProcessServer, Probe],
) -> None:
    server, servicer = probe
    peers = _peers(server)
    photos = peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER)

    async def nested(request: photo_pb2.GetPhotoRequest, context: Any) -> photo_pb2.GetPhotoResponse:
        if request.photo_id == 5:
            await asyncio.sleep(0.3)  # spend some of the caller's time first
            return await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=6))
        return photo_pb2.GetPhotoResponse()

    servicer.behaviour = nested
    try:
        await get_photo(server, timeout=2)
    finally:
        await peers.close()
    outer, inner = (seen.time_remaining for seen in servicer.seen)
    assert outer is not None and inner is not None
    assert 1.0 < outer <= 2.0 + CLOCK_SLACK_MS / 1000
    assert inner < outer - 0.25  # what the caller had left after its 0.3 s, not the default 5 s deadline


def _client_calls(code: str) -> float:
    labels = {"grpc_service": "shutter.photo.v1.PhotoService", "grpc_method": "GetPhoto", "grpc_code": code}
    return REGISTRY.get_sample_value("grpc_client_handled_total", labels) or 0.0


async def test_a_unary_call_to_a_peer_carries_the_request_id_and_is_counted_by_its_code(
    probe: tuple[InProcessServer, Probe],
) -> None:
    """Unary calls to peers go out on a channel without grpc.aio interceptors: the peer stub does their work
    (request id, deadline, token, metrics) itself, and raises a failure as the error it stands for."""
    server, servicer = probe
    peers = _peers(server)
    photos = peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER)
    ok_before, missing_before = _client_calls("OK"), _client_calls("NOT_FOUND")

    async def nested(request: photo_pb2.GetPhotoRequest, context: Any) -> photo_pb2.GetPhotoResponse:
        if request.photo_id == 404:
            raise NotFound("photo 404 not found")
        if request.photo_id == 5:
            await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=6))
            with pytest.raises(NotFound, match="photo 404 not found"):
                await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=404))
        return photo_pb2.GetPhotoResponse()

    servicer.behaviour = nested
    try:
        await get_photo(server, metadata=(*server.auth(user_id=7), ("x-request-id", "req-peer-1")), timeout=2)
    finally:
        await peers.close()
    _outer, inner, missing = servicer.seen
    assert [seen.request_id for seen in servicer.seen] == ["req-peer-1"] * 3
    assert inner.principal is not None and inner.principal.user_id == 7  # the caller's token, forwarded
    assert inner.time_remaining is not None
    assert inner.time_remaining <= 2 + CLOCK_SLACK_MS / 1000  # the caller's 2 s, not the default 5 s
    assert missing.principal is not None and missing.principal.user_id == 7
    assert _client_calls("OK") == ok_before + 1
    assert _client_calls("NOT_FOUND") == missing_before + 1


async def test_calls_of_one_method_each_get_their_own_principal_and_request_id(
    probe: tuple[InProcessServer, Probe],
) -> None:
    """The wrapped handler is made once per method; nothing of one call may stay with it for the next."""
    server, servicer = probe
    for user_id in (7, 8, 9):
        await get_photo(server, metadata=(*server.auth(user_id=user_id), ("x-request-id", f"req-{user_id}")))
    await get_photo(server)  # no request id: a fresh one
    seen = servicer.seen
    assert [s.principal.user_id for s in seen if s.principal] == [7, 8, 9, 7]
    assert [s.request_id for s in seen[:3]] == ["req-7", "req-8", "req-9"]
    assert seen[3].request_id and re.fullmatch(r"[0-9a-f]{32}", seen[3].request_id)


async def test_without_a_callers_deadline_downstream_calls_get_the_default_one(
    probe: tuple[InProcessServer, Probe],
) -> None:
    server, servicer = probe
    peers = _peers(server)
    photos = peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=SERVICE)
    callctx.bind(None, "", None)  # outside any RPC: a consumer's call
    try:
        await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=6))
    finally:
        await peers.close()
    [seen] = servicer.seen
    assert seen.time_remaining is not None and 4.0 < seen.time_remaining <= 5.0  # SHUTTER_DEFAULT_DEADLINE_SECONDS


async def test_a_downstream_streaming_call_carries_the_request_id_and_the_callers_deadline(
    probe: tuple[InProcessServer, Probe],
) -> None:
    """grpc.aio files a client interceptor under one kind of call only: streaming calls need their own."""
    server, servicer = probe
    peers = _peers(server)
    photos = peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER)

    async def nested(request: photo_pb2.GetPhotoRequest, context: Any) -> photo_pb2.GetPhotoResponse:
        if request.photo_id == 5:
            await asyncio.sleep(0.3)
            async for _ in photos.DownloadPhoto(photo_pb2.DownloadPhotoRequest(photo_id=7)):
                pass
        return photo_pb2.GetPhotoResponse()

    servicer.behaviour = nested
    try:
        await get_photo(server, timeout=2)
    finally:
        await peers.close()
    [outer] = servicer.seen
    [inner] = servicer.streamed
    assert inner.request_id == outer.request_id and inner.request_id
    assert outer.time_remaining is not None and inner.time_remaining is not None
    assert inner.time_remaining < outer.time_remaining - 0.25  # the caller's remaining time, not the default 5 s


async def test_outside_any_rpc_a_streamed_answer_gets_no_default_deadline(
    probe: tuple[InProcessServer, Probe],
) -> None:
    """A watch (the gateway's Server-Sent Events) stays open as long as its client wants."""
    server, servicer = probe
    peers = _peers(server)
    photos = peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=SERVICE)
    callctx.bind(None, "", None)
    try:
        async for _ in photos.DownloadPhoto(photo_pb2.DownloadPhotoRequest(photo_id=7)):
            pass
    finally:
        await peers.close()
    [seen] = servicer.streamed
    assert seen.time_remaining is None


# -- who a downstream call runs as -------------------------------------------------------------------------


async def test_a_stub_made_as_the_caller_forwards_the_callers_token_and_as_the_service_its_own(
    probe: tuple[InProcessServer, Probe],
) -> None:
    server, servicer = probe
    peers = _peers(server)
    as_caller = peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER)
    as_service = peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=SERVICE)

    async def both(request: photo_pb2.GetPhotoRequest, context: Any) -> photo_pb2.GetPhotoResponse:
        if request.photo_id == 5:  # the end user's call; its handler calls photo both ways
            await as_caller.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=6))
            await as_service.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=7))
        return photo_pb2.GetPhotoResponse()

    servicer.behaviour = both
    try:
        await get_photo(server, server.auth(user_id=42))
    finally:
        await peers.close()
    principals = [seen.principal for seen in servicer.seen]
    assert [(p.user_id, p.service) for p in principals if p] == [(42, None), (42, None), (None, "like")]
    assert servicer.seen[1].request_id == servicer.seen[0].request_id == servicer.seen[2].request_id


async def test_a_call_as_the_caller_outside_any_rpc_is_refused_before_it_is_sent(
    probe: tuple[InProcessServer, Probe],
) -> None:
    server, servicer = probe
    peers = _peers(server)
    callctx.bind(None, "", None)
    try:
        with pytest.raises(RuntimeError, match="outside any RPC"):
            await peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER).GetPhoto(
                photo_pb2.GetPhotoRequest(photo_id=6)
            )
    finally:
        await peers.close()
    assert servicer.seen == []


async def test_a_peers_failure_is_raised_as_the_service_error_it_stands_for(
    probe: tuple[InProcessServer, Probe],
) -> None:
    server, servicer = probe
    peers = _peers(server)
    photos = peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=SERVICE)
    callctx.bind(None, "", None)
    try:
        servicer.behaviour = raising(InvalidArgument("title", "too long"))
        with pytest.raises(InvalidArgument) as invalid:
            await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=6))
        assert invalid.value.violations == [("title", "too long")]
        servicer.behaviour = raising(PhotoGone(6))
        with pytest.raises(NotFound, match="photo 6 not found"):
            await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=6))
        servicer.behaviour = raising(Unavailable("service is starting"))
        with pytest.raises(Unavailable) as down:
            await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=6))
        assert down.value.message == "photo is unavailable"  # the peer's own words would read as ours
    finally:
        await peers.close()


async def test_an_unreachable_peer_is_named_not_addressed() -> None:
    settings = Settings.from_env({"SHUTTER_AUTH_SECRET": AUTH_SECRET, "SHUTTER_PHOTO_ADDR": "127.0.0.1:1"})
    peers = Channels("like", settings, TokenAuthority(AUTH_SECRET, 3600))
    callctx.bind(None, "", None)
    try:
        with pytest.raises(Unavailable) as caught:
            await peers.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=SERVICE).GetPhoto(
                photo_pb2.GetPhotoRequest(photo_id=6), timeout=2
            )
    finally:
        await peers.close()
    assert caught.value.message == "photo is unavailable"
    assert caught.value.rich_status().details == []
