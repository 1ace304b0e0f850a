"""Service bootstrap: every `python -m services.<name>` starts through `run_service`.

Order of life: bind the port and answer health NOT_SERVING; start the service's components
(stores, then the NATS connection, relays, consumers and the deleted-users list, none of which waits
for NATS: see services.runtime.events) in order; flip health to SERVING.

On SIGTERM/SIGINT: health goes NOT_SERVING; every call gRPC had received before the signal is let
through to its handler and later ones are refused UNAVAILABLE (Lifecycle's drain markers: gRPC's own
shutdown would cancel the received-but-not-started ones); then the server stops, giving handlers the
rest of the grace period. Then the components stop in reverse order (consumers and relays finish their
current event while the channels to peers are still open), the channels close, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.runtime import loop as event_loop
from services.runtime.auth import TokenAuthority
from services.runtime.channels import KEEPALIVE_OPTIONS, Channels
from services.runtime.config import LimitSettings, Settings
from services.runtime.events import Consumer, EventBus, Handler
from services.runtime.ids import IdGenerator
from services.runtime.interceptors import DRAIN_MARKER_KEY, AccessLog, DeletedUserCheck, Lifecycle, ServerInterceptor
from services.runtime.limits import Counters, Limiter, TrustedPeers, parse_networks
from services.runtime.live import LiveUpdates
from services.runtime.logs import configure_logging
from services.runtime.revocation import DeletedUsers
from services.runtime.settings import Section, SectionT, load, process_sections, warn_undeclared
from services.runtime.telemetry import Telemetry, add_channelz
from services.runtime.topology import SHARD_BLOCKS

log = logging.getLogger("shutter.server")

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# How long draining may go on refusing calls that keep racing in before the server stops anyway, and
# how long without calls coming or going counts as settled.
REFUSE_MAX_SECONDS = 1.0
SETTLE_SECONDS = 0.05


class Component(Protocol):
    """Something with a life: started before SERVING, stopped after the server drains."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class _Registration:
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    descriptor: ServiceDescriptor


class Runtime:
    """What a service's build function is given: settings, ids, peers, stores and events."""

    def __init__(self, name: str, settings: Settings, sections: Mapping[type[Section], Section] | None = None) -> None:
        self.name = name
        self.settings = settings
        self._sections = dict(sections or {})
        shard = settings.shard_id if settings.shard_id is not None else SHARD_BLOCKS[name][0]
        self.ids = IdGenerator(shard)
        self.tokens = TokenAuthority(settings.signing_secret(), settings.token_ttl_seconds)
        self.channels = Channels(name, settings, self.tokens)
        self.components: list[Component] = []
        self.registrations: list[_Registration] = []
        self._bus: EventBus | None = None
        self._limiter: Limiter | None = None

    def section(self, kind: type[SectionT]) -> SectionT:
        """One of the process's settings sections (its services/<name>/settings.py), read and checked at start."""
        if kind not in self._sections:
            self._sections[kind] = kind.from_env(self.settings.environ)
        return self._sections[kind]  # type: ignore[return-value]

    def add_component(self, component: Component) -> None:
        self.components.append(component)

    def add_servicer(
        self, add_to_server: Callable[[Any, grpc.aio.Server], None], servicer: Any, descriptor: ServiceDescriptor
    ) -> None:
        self.registrations.append(_Registration(add_to_server, servicer, descriptor))

    def data_path(self, *parts: str) -> Path:
        return self.settings.data_dir.joinpath(self.name, *parts)

    def replica_path(self, *parts: str) -> Path:
        """Files only this process uses (uploads in flight, its deleted-users snapshot): with SHUTTER_SHARD_ID
        set, in a folder of its shard, so replicas sharing one data directory never sweep or overwrite
        each other's; a process started alone keeps them beside its data."""
        if self.settings.shard_id is None:
            return self.data_path(*parts)
        return self.data_path(f"shard-{self.settings.shard_id}", *parts)

    @property
    def store_backend(self) -> str:
        """ "sqlite" (embedded, one machine) or "cql" (ScyllaDB), from SHUTTER_STORE (checked at start); a
        service picks its store implementation by this and nothing else."""
        return self.settings.store

    def events(self) -> EventBus:
        """The NATS connection, started before anything that needs it."""
        if self._bus is None:
            self._bus = EventBus(self.settings.nats_url, f"shutter-{self.name}", self.settings.nats_stream_replicas)
            self.add_component(self._bus)
        return self._bus

    def live(self, topic: str) -> LiveUpdates:
        """Publishing and watching one topic's per-user live updates (services.runtime.live)."""
        live = LiveUpdates(
            self.events(),
            topic,
            max_watchers_per_user=self.settings.live_watchers_per_user,
            queue_size=self.settings.live_queue_size,
        )
        self.add_component(live)
        return live

    def limiter(self) -> Limiter:
        """The process's rate limiter (services.runtime.limits), counting on NATS; the server interceptor
        applies its table to every call, handlers use it for limits that depend on the outcome."""
        if self._limiter is None:
            own = self.section(LimitSettings)
            longest = max((rate.window for rate in own.rates.values()), default=86400.0)
            replicas = self.settings.nats_stream_replicas
            counters = Counters(self.events(), own.timeout_seconds, max(longest, 86400.0), replicas)
            self._limiter = Limiter(counters, own.rates, own.enabled, own.lease_max)
        return self._limiter

    def consume(self, durable: str, event_types: list[type], handler: Handler, **options: Any) -> Consumer:
        options.setdefault("ack_wait", self.settings.consumer_ack_wait_seconds)
        consumer = Consumer(self.events(), durable, event_types, handler, **options)
        self.add_component(consumer)
        return consumer


def run_service(name: str, build: Callable[[Runtime], None], *, refuse_deleted_users: bool = True) -> None:
    """Entry point of every service process.

    refuse_deleted_users=False only for test doubles that run without NATS: every real service must
    refuse the tokens of deleted accounts (services.runtime.revocation).
    """
    settings = Settings.from_env()  # every setting of the process checked before anything starts
    sections = load([LimitSettings, *process_sections(f"services.{name}.settings")], settings.environ)
    configure_logging(name, settings.log_level)
    warn_undeclared(os.environ, log)
    telemetry = Telemetry(name, settings)
    telemetry.start()  # first: channels made while building get its interceptors; a slow start can be scraped
    try:
        serving = _serve(name, build, settings, refuse_deleted_users, sections, telemetry)
        code = event_loop.run(serving, settings.event_loop)
    finally:
        telemetry.stop()
    sys.exit(code)


@dataclass
class Served:
    """A started gRPC server: what `_serve` runs, and what in-process tests serve a test servicer with."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    names: list[str]  # full names of the services registered (health and reflection aside)
    port: int

    async def set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        for service in ("", *self.names):
            await self.health.set(service, status)


async def start_server(
    runtime: Runtime,
    lifecycle: Lifecycle,
    deleted_users: DeletedUserCheck | None,
    address: str,
    telemetry: Telemetry | None = None,
) -> Served:
    """The runtime's gRPC server for `runtime`'s servicers, listening on `address` and answering health
    NOT_SERVING: the runtime's interceptor (tracing, lifecycle, auth, limits, errors, access log, metrics),
    message limits, keepalive, health, reflection and (when its setting says so) channelz."""
    limits = runtime.section(LimitSettings)
    # Test doubles run without NATS (no deleted-users check): nothing to count on, so no limits either.
    limiter = runtime.limiter() if deleted_users is not None and limits.enabled else None
    trusted = TrustedPeers(parse_networks(limits.trusted_peers))
    server = grpc.aio.server(
        interceptors=[
            ServerInterceptor(
                runtime.tokens,
                lifecycle,
                deleted_users,
                AccessLog(runtime.settings.rpc_log_every),
                limiter=limiter,
                trusted_peers=trusted,
            ),
        ],
        options=[
            *KEEPALIVE_OPTIONS,
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for registration in runtime.registrations:
        registration.add_to_server(registration.servicer, server)
    names = [r.descriptor.full_name for r in runtime.registrations]
    debugging = add_channelz(server) if telemetry and telemetry.settings.channelz else []
    reflection.enable_server_reflection([*names, *debugging, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    served = Served(server, health_servicer, names, 0)
    await served.set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
    served.port = server.add_insecure_port(address)
    await server.start()
    return served


async def _serve(
    name: str,
    build: Callable[[Runtime], None],
    settings: Settings,
    refuse_deleted_users: bool = True,
    sections: Mapping[type[Section], Section] | None = None,
    telemetry: Telemetry | None = None,
) -> int:
    runtime = Runtime(name, settings, sections)
    build(runtime)
    deleted_users = None
    if refuse_deleted_users:
        deleted_users = DeletedUsers(
            runtime.events(), settings.token_ttl_seconds, runtime.replica_path("deleted-users.json")
        )
        runtime.add_component(deleted_users)
    lifecycle = Lifecycle()
    address = f"{settings.host}:{settings.ports[name]}"
    served = await start_server(runtime, lifecycle, deleted_users, address, telemetry)
    server, port = served.server, served.port
    loop = asyncio.get_running_loop()
    log.info("listening", extra={"address": address, "event_loop": type(loop).__module__.partition(".")[0]})

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    started: list[Component] = []
    starting = asyncio.create_task(_start_components(runtime.components, started))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    if starting.done() and starting.exception() is None:
        await served.set_health(health_pb2.HealthCheckResponse.SERVING)
        lifecycle.ready = True
        log.info("serving", extra={"address": address})
        await stopped
    elif starting.done():
        log.error("start-up failed", exc_info=starting.exception())
        exit_code = 1
    else:
        starting.cancel()

    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    deadline = loop.time() + settings.shutdown_grace_seconds
    await served.health.enter_graceful_shutdown()
    if lifecycle.ready:
        await _drain(lifecycle, _own_target(settings.host, port), _methods(runtime), deadline)
    await server.stop(max(deadline - loop.time(), 0.1))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(deadline - loop.time(), 0.1)):
            await lifecycle.idle()
    # Components before channels: a consumer mid-handler (a fan-out calling peers) must not see its
    # channel closed under it, which fails the event with a non-transient error and burns a delivery.
    for component in reversed(started):
        try:
            await component.stop()
        except Exception:
            log.exception("component failed to stop", extra={"component": type(component).__name__})
    await runtime.channels.close()
    log.info("stopped")
    return exit_code


async def _start_components(components: list[Component], started: list[Component]) -> None:
    for component in components:
        await component.start()
        started.append(component)


def _methods(runtime: Runtime) -> list[str]:
    """Every method the service's own contracts serve (health and reflection are never refused)."""
    return [
        f"/{registration.descriptor.full_name}/{method.name}"
        for registration in runtime.registrations
        for method in registration.descriptor.methods
    ]


def _own_target(host: str, port: int) -> str:
    return f"127.0.0.1:{port}" if host in ("", "0.0.0.0", "::", "[::]") else f"{host}:{port}"


async def _drain(lifecycle: Lifecycle, target: str, methods: list[str], deadline: float) -> None:
    """Let every call received before SIGTERM reach its handler; refuse the rest (see Lifecycle).

    Each round sends one marker call per method through the server's own port (a stream-stream call
    with one empty message: a valid request for every method), answered at once by the interceptor.
    Rounds go on while calls are refused; when one refuses nothing, the drain waits for the running
    handlers to finish and for calls to stop coming (their clients answer with new calls), and a last
    round checks that nothing arrived meanwhile. So the stop that follows finds gRPC's queues empty;
    only a call arriving in the moment between the last round and the stop can still be cancelled.
    """
    loop = asyncio.get_running_loop()
    refuse_until = min(loop.time() + REFUSE_MAX_SECONDS, deadline - 1.0)
    settled = False
    rounds = 0
    async with grpc.aio.insecure_channel(target) as channel:
        while True:
            refused = lifecycle.refused
            marker = ((DRAIN_MARKER_KEY, lifecycle.new_round(set(methods))),)
            calls = [channel.stream_stream(method)(iter([b""]), metadata=marker) for method in methods]
            try:
                async with asyncio.timeout(max(deadline - loop.time() - 1.0, 0.1)):
                    await lifecycle.round_seen()
            except TimeoutError:
                log.warning("drain markers did not all arrive; stopping anyway")
                return
            finally:
                for call in calls:
                    call.cancel()
            rounds += 1
            quiet = lifecycle.refused == refused
            if (quiet and settled) or loop.time() >= refuse_until:
                break
            settled = False
            if quiet:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(refuse_until - loop.time(), 0.01)):
                        await lifecycle.settled(SETTLE_SECONDS)
                settled = True
    log.info("drained", extra={"refused": lifecycle.refused, "rounds": rounds})
