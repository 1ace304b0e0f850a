"""Prometheus metrics for every process: the runtime's families and the `/metrics` endpoint.

The runtime observes what every service has — RPCs served and made, events consumed, the outbox,
store calls — so a service gets them by being built on it; a service defines only its domain figures,
next to the code that observes them (`Counter(...)` at module level, prometheus-client's default
registry). The default registry also carries the process collector (`process_cpu_seconds_total`,
`process_resident_memory_bytes`), which the bench reads per process.

Names: RPCs use the names operators already have dashboards and alerts for (go-grpc-prometheus:
`grpc_server_handled_total{grpc_service, grpc_method, grpc_code}`, `grpc_server_handling_seconds`,
and the `grpc_client_*` pair); everything else is `shutter_*`. Which process a series comes from is
the scrape's business (`job`, `instance`), so runtime families carry no service label.

`SHUTTER_METRICS=0` turns the endpoint and the runtime's observations off; it exists so the bench
can measure what metrics cost, not as a production mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from services.runtime import errors

log = logging.getLogger("shutter.metrics")

# Seconds. RPCs on one machine take a millisecond or two; a fan-out to thousands takes seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds from an event's time to its effect: tens of milliseconds when healthy, minutes in an outage.
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class _Switch:
    """Whether the runtime observes at all (SHUTTER_METRICS); read on every RPC, so one attribute."""

    on = True


SWITCH = _Switch()


def set_enabled(enabled: bool) -> None:
    SWITCH.on = enabled


def split_method(method: str) -> tuple[str, str]:
    """`/shutter.like.v1.LikeService/LikePhoto` → (`shutter.like.v1.LikeService`, `LikePhoto`)."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service, name


class RpcMetrics:
    """Requests by method and status code, and latency by method, for one side of every RPC.

    Label children are looked up once per (method, code) and kept: `labels()` takes a lock and
    builds a tuple, which would be most of the cost on a hot path.
    """

    def __init__(self, handled: Counter, seconds: Histogram) -> None:
        self._handled = handled
        self._seconds = seconds
        self._handled_children: dict[tuple[str, grpc.StatusCode], Any] = {}
        self._seconds_children: dict[str, Any] = {}

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        if not SWITCH.on:
            return
        handled = self._handled_children.get((method, code))
        if handled is None:
            handled = self._handled.labels(*split_method(method), code.name)
            self._handled_children[(method, code)] = handled
        timer = self._seconds_children.get(method)
        if timer is None:
            timer = self._seconds_children[method] = self._seconds.labels(*split_method(method))
        handled.inc()
        timer.observe(seconds)


SERVER_RPCS = RpcMetrics(
    Counter(
        "grpc_server_handled",
        "RPCs completed by this server, by method and status code.",
        ["grpc_service", "grpc_method", "grpc_code"],
    ),
    Histogram(
        "grpc_server_handling_seconds",
        "Time this server took to answer an RPC, from its arrival to its status.",
        ["grpc_service", "grpc_method"],
        buckets=LATENCY_BUCKETS,
    ),
)
CLIENT_RPCS = RpcMetrics(
    Counter(
        "grpc_client_handled",
        "RPCs this process made to other services, by method and the status code it got.",
        ["grpc_service", "grpc_method", "grpc_code"],
    ),
    Histogram(
        "grpc_client_handling_seconds",
        "Time an RPC this process made took to get its status, retries included.",
        ["grpc_service", "grpc_method"],
        buckets=LATENCY_BUCKETS,
    ),
)


class Labelled:
    """A family whose children are cached by label values (see RpcMetrics)."""

    def __init__(self, family: Any) -> None:
        self._family = family
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, *values: str) -> Any:
        found = self._children.get(values)
        if found is None:
            found = self._children[values] = self._family.labels(*values)
        return found


_STORE_SECONDS = Labelled(
    Histogram(
        "shutter_store_operation_seconds",
        "Time a store call took, by backend and operation (the store method, or the CQL statement).",
        ["backend", "operation"],
        buckets=LATENCY_BUCKETS,
    )
)


def observe_store(backend: str, operation: str, seconds: float) -> None:
    if SWITCH.on:
        _STORE_SECONDS.child(backend, operation).observe(seconds)


_call_sites: dict[object, str] = {}


def call_site(work: Callable[..., Any]) -> str:
    """What a unit of work passed to a store base is, for a label: the function that made it
    (`SqliteLikeStore.like` for a lambda inside that method), computed once per code object."""
    code = getattr(work, "__code__", work)
    site = _call_sites.get(code)
    if site is None:
        qualname = getattr(work, "__qualname__", None) or type(work).__qualname__
        site = _call_sites[code] = qualname.split(".<locals>", 1)[0]
    return site


_CONSUMED = Labelled(
    Counter(
        "shutter_events_handled",
        "Events a consumer finished with, by outcome: acked, retried (nak, to come again) or dead_lettered.",
        ["consumer", "subject", "outcome"],
    )
)
_REDELIVERED = Labelled(
    Counter(
        "shutter_events_redelivered",
        "Deliveries of an event a consumer had been given before (a retry, an expired ack, a restart).",
        ["consumer", "subject"],
    )
)
_DEAD_LETTERED = Labelled(
    Counter(
        "shutter_events_dead_lettered",
        "Events a consumer gave up on and moved to the dead-letter stream.",
        ["consumer", "subject"],
    )
)
_HANDLER_SECONDS = Labelled(
    Histogram(
        "shutter_event_handler_seconds",
        "Time a consumer's handler took for one event, whatever its outcome.",
        ["consumer"],
        buckets=LATENCY_BUCKETS,
    )
)
CONSUMER_PENDING = Gauge(
    "shutter_consumer_pending_events",
    "Events in the stream a durable consumer has not been given yet (JetStream num_pending).",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "shutter_consumer_ack_pending_events",
    "Events given to a durable consumer and not acked yet (JetStream num_ack_pending).",
    ["consumer"],
)


def observe_event(consumer: str, subject: str, outcome: str, deliveries: int, seconds: float) -> None:
    """One delivery of one event to a consumer's handler, finished with `outcome`."""
    if not SWITCH.on:
        return
    _CONSUMED.child(consumer, subject, outcome).inc()
    _HANDLER_SECONDS.child(consumer).observe(seconds)
    if deliveries > 1:
        _REDELIVERED.child(consumer, subject).inc()
    if outcome == "dead_lettered":
        _DEAD_LETTERED.child(consumer, subject).inc()


@dataclass
class OutboxBacklog:
    """What the relay saw at its last read: unsent rows (at most one batch) and the oldest one's time."""

    unsent: int = 0
    oldest_created_at: float | None = None

    def age_seconds(self) -> float:
        return 0.0 if self.oldest_created_at is None else max(time.time() - self.oldest_created_at, 0.0)


OUTBOX = OutboxBacklog()
_OUTBOX_UNSENT = Gauge(
    "shutter_outbox_unsent_events",
    "Outbox rows not yet published, as the relay last read them (it reads a batch at a time: at most 256).",
)
_OUTBOX_AGE = Gauge(
    "shutter_outbox_oldest_unsent_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none): how late events are leaving.",
)
# Read at scrape time, so the age grows while the relay is stuck rather than freezing at its last read.
_OUTBOX_UNSENT.set_function(lambda: OUTBOX.unsent)
_OUTBOX_AGE.set_function(OUTBOX.age_seconds)


def outcome_of(exc: BaseException) -> str:
    """A failure as a label: the status it is answered with (`invalid_argument`, `unavailable`…), as the
    runtime's error table says, or `cancelled`."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return errors.answer_for(exc).error.code.name.lower()


def event_lag_seconds(occurred_ms: int) -> float:
    """Seconds from an event's time (its `occurred_at`, or its entity's creation) to now."""
    return max(time.time() - occurred_ms / 1000, 0.0)


class MetricsEndpoint:
    """`/metrics` (any path, in fact) on its own HTTP port, served from a thread of this process.

    Started before anything else, so a process stuck starting (waiting for NATS, say) can be scraped.
    Port 0 takes a free port (logged); a port already taken stops the process, like its gRPC port would.
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
        self._host = host
        self._port = port
        self._registry = registry
        self._server: Any = None

    @property
    def port(self) -> int:
        return self._server.server_port if self._server is not None else self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/metrics"

    def start(self) -> None:
        try:
            self._server, _ = start_http_server(self._port, addr=self._host, registry=self._registry)
        except OSError as exc:
            raise SystemExit(f"cannot serve metrics on {self._host}:{self._port}: {exc}") from exc
        log.info("metrics", extra={"url": self.url})

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
