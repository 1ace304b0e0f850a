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
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

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


class LoopCounter:
    """A labelled counter for observations made on the event loop's thread: a dict of floats, with none of
    prometheus-client's per-increment lock and checks (which, a few per RPC, cost more than the rest of
    observing it); exported by collecting, as a custom collector is. A scrape runs in the endpoint's thread
    and reads what is there (the GIL makes each addition whole)."""

    def __init__(self, name: str, documentation: str, labelnames: list[str], registry: Any = REGISTRY) -> None:
        self._name, self._documentation, self._labelnames = name, documentation, labelnames
        self.values: dict[tuple[str, ...], float] = {}
        if registry is not None:
            registry.register(self)

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, value in list(self.values.items()):
            family.add_metric(labels, value)
        yield family


class LoopHistogram:
    """A labelled histogram observed on the event loop's thread, as LoopCounter: per label values, one count
    per bucket and the sum (an observation is a bisect and two additions)."""

    def __init__(
        self, name: str, documentation: str, labelnames: list[str], buckets: tuple[float, ...], registry: Any = REGISTRY
    ) -> None:
        self._name, self._documentation, self._labelnames = name, documentation, labelnames
        self._bounds = tuple(buckets)
        self._bucket_names = [*(floatToGoString(b) for b in self._bounds), "+Inf"]
        self.children: dict[tuple[str, ...], list[float]] = {}
        if registry is not None:
            registry.register(self)

    def child(self, labels: tuple[str, ...]) -> list[float]:
        """The counts of `labels`' buckets (the last for +Inf), then the sum: kept by callers on hot paths."""
        found = self.children.get(labels)
        if found is None:
            found = self.children[labels] = [0.0] * (len(self._bounds) + 2)
        return found

    def observe_into(self, child: list[float], seconds: float) -> None:
        child[bisect_left(self._bounds, seconds)] += 1
        child[-1] += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, child in list(self.children.items()):
            counts, total = child[:-1], child[-1]
            cumulative, buckets = 0.0, []
            for bound, count in zip(self._bucket_names, counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric(labels, buckets, total)
        yield family


class RpcMetrics:
    """Requests by method and status code, and latency by method, for one side of every RPC.

    Observed on every call, so on the event loop's own families (LoopCounter, LoopHistogram) and with the
    label tuples built once per (method, code). A gateway with several workers sums their metrics through
    prometheus-client's multiprocess files, which only its own families write: there (PROMETHEUS_MULTIPROC_DIR
    set when this module is imported, as in each worker), the library's families are used instead.
    """

    def __init__(self, side: str, handled_doc: str, seconds_doc: str) -> None:
        labels = ["grpc_service", "grpc_method"]
        handled, seconds = f"grpc_{side}_handled", f"grpc_{side}_handling_seconds"
        self._library: tuple[Counter, Histogram] | None = None
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            self._library = (
                Counter(handled, handled_doc, [*labels, "grpc_code"]),
                Histogram(seconds, seconds_doc, labels, buckets=LATENCY_BUCKETS),
            )
        else:
            self._handled = LoopCounter(handled, handled_doc, [*labels, "grpc_code"])
            self._seconds = LoopHistogram(seconds, seconds_doc, labels, LATENCY_BUCKETS)
        self._handled_labels: dict[tuple[str, grpc.StatusCode], Any] = {}
        self._timers: dict[str, Any] = {}

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        if not SWITCH.on:
            return
        handled = self._handled_labels.get((method, code))
        if handled is None:
            handled = (*split_method(method), code.name)
            if self._library is not None:
                handled = self._library[0].labels(*handled)
            self._handled_labels[(method, code)] = handled
        timer = self._timers.get(method)
        if timer is None:
            labels = split_method(method)
            timer = self._timers[method] = (
                self._library[1].labels(*labels) if self._library is not None else self._seconds.child(labels)
            )
        if self._library is not None:
            handled.inc()
            timer.observe(seconds)
            return
        self._handled.inc(handled)
        self._seconds.observe_into(timer, seconds)


SERVER_RPCS = RpcMetrics(
    "server",
    "RPCs completed by this server, by method and status code.",
    "Time this server took to answer an RPC, from its arrival to its status.",
)
CLIENT_RPCS = RpcMetrics(
    "client",
    "RPCs this process made to other services, by method and the status code it got.",
    "Time an RPC this process made took to get its status, retries included.",
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


_STORE_SECONDS = LoopHistogram(
    "shutter_store_operation_seconds",
    "Time a store call took, by backend and operation (the store method, or the CQL statement).",
    ["backend", "operation"],
    LATENCY_BUCKETS,
)
_STORE_CHILDREN: dict[tuple[str, str], list[float]] = {}


def observe_store(backend: str, operation: str, seconds: float) -> None:
    """A store call's time (on the event loop's thread, after the call: a LoopHistogram)."""
    if SWITCH.on:
        _STORE_SECONDS.observe_into(_STORE_SECONDS.child((backend, operation)), seconds)


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
