"""Client channels: one long-lived channel per target, retries from the contracts themselves.

Methods marked `idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT` in protos/ are retried on
UNAVAILABLE by gRPC's own retry machinery (service config `retryPolicy` with `retryThrottling`);
nothing else is retried.

A service calls a peer through `channels.stub(target, Stub, as_=CALLER or SERVICE)`: who the call runs as
is decided where the stub is made, never by whatever context a call happens to run in. CALLER forwards
the token of the RPC being served (so the peer authorises the end user; outside an RPC it is refused),
SERVICE sends the process's own service token. Such a stub raises a peer's failure as the ServiceError
it stands for (services.runtime.errors.relayed): NOT_FOUND stays NotFound, UNAVAILABLE names the peer,
never its address.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn, TypeVar, cast

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from services.runtime import callctx, metrics, tracing_grpc
from services.runtime.auth import TokenAuthority
from services.runtime.config import Settings
from services.runtime.errors import relayed
from services.runtime.interceptors import call_timeout, forwarded_request_id, runtime_client_interceptors
from services.runtime.telemetry import client_interceptors
from services.runtime.topology import CALL_GRAPH, CONTRACTS

StubT = TypeVar("StubT")

SERVICE_TOKEN_TTL_SECONDS = 3600

KEEPALIVE_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]

# gRPC's default reconnect backoff grows to 120 s, so a peer that restarts can stay unreachable
# from its callers long after it is back; cap it at 2 s.
RECONNECT_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def retrying_methods(service: ServiceDescriptor) -> list[str]:
    """Names of the methods the contract marks safe to retry."""
    safe = (descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS, descriptor_pb2.MethodOptions.IDEMPOTENT)
    return [method.name for method in service.methods if method.GetOptions().idempotency_level in safe]


def service_config(service: ServiceDescriptor) -> dict[str, Any]:
    methods = retrying_methods(service)
    config: dict[str, Any] = {
        # Spread calls over every address the target resolves to (all pods behind a headless
        # Service in a cluster; one address locally), rather than pinning one connection.
        "loadBalancingConfig": [{"round_robin": {}}],
        # Only replicas whose grpc.health.v1 says SERVING get calls (one Watch stream per connection, no
        # per-call cost): a replica starting, or draining after SIGTERM, is skipped as a cluster skips a
        # pod that is not ready.
        "healthCheckConfig": {"serviceName": ""},
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
        "methodConfig": [],
    }
    if methods:
        config["methodConfig"].append(
            {
                "name": [{"service": service.full_name, "method": name} for name in methods],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        )
    return config


def channel_options(target: str) -> list[tuple[str, Any]]:
    """What every channel to service `target` is made with: keepalive, a short reconnect backoff, and the
    service config (round_robin over health-checked addresses, retries of the contract's safe methods)."""
    return [
        *KEEPALIVE_OPTIONS,
        *RECONNECT_OPTIONS,
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(service_config(CONTRACTS[target]))),
    ]


class Acting(enum.Enum):
    """Who a call to a peer runs as."""

    CALLER = "caller"  # the user (or service) whose RPC is being served: the peer authorises them
    SERVICE = "service"  # this process itself, whoever asked: for its own bookkeeping and background work


CALLER = Acting.CALLER
SERVICE = Acting.SERVICE


def caller_token() -> str:
    """The token of the RPC being served."""
    current = callctx.principal()
    if current is None:
        raise RuntimeError("a call made as the caller outside any RPC: make its stub as_=SERVICE")
    return current.token


class UnaryRoute:
    """One unary method on a target's two channels. A call that tracing records goes through the channel
    with interceptors; every other goes through the bare one, with the client work the runtime's
    interceptors would add done here: the trace context passed on, and the client metrics. A grpc.aio
    interceptor turns every call into an intercepted call with its own task and futures, measured at a
    third more client CPU per call. The caller gives the metadata (token, request id) and the timeout."""

    def __init__(self, path: str, bare: Any, intercepted: Any) -> None:
        self.path = path
        self._bare = bare
        self._intercepted = intercepted

    async def __call__(self, request: Any, *, metadata: Any, timeout: float | None, **options: Any) -> Any:
        """The finished call: `await` it again for the reply, or read its trailing metadata. AioRpcError on
        failure, as the generated stub raises it."""
        trace = tracing_grpc.outgoing_for(self.path)
        if trace is tracing_grpc.RECORD:
            call = self._intercepted(request, metadata=metadata, timeout=timeout, **options)
            await call
            return call
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        call = self._bare(request, metadata=(*metadata, *trace), timeout=timeout, **options)
        try:
            await call
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            metrics.CLIENT_RPCS.observe(self.path, code, time.perf_counter() - started)
        return call


class PeerStub:
    """A peer's stub whose calls carry the token `token()` gives and raise failures as ServiceErrors.

    Methods are called like the generated stub's (`await peer.GetPhoto(request, timeout=…)`); a
    streaming answer is an async iterator.

    Unary calls that are not recorded by tracing (all but the sampled ones) go through `bare_stub`, on a
    channel with no interceptors (`UnaryRoute`), the deadline and request id added here; the view path makes
    several calls per view. Streams use `stub`, whose channel has the interceptors.
    """

    def __init__(
        self,
        target: str,
        stub: Any,
        token: Callable[[], str],
        *,
        bare_stub: Any = None,
        default_deadline: float | None = None,
    ) -> None:
        self._target = target
        self._stub = stub
        self._bare = bare_stub
        self._token = token
        self._default_deadline = default_deadline
        self._service = CONTRACTS[target].full_name
        self._methods: dict[str, MethodDescriptor] = dict(CONTRACTS[target].methods_by_name)

    def __getattr__(self, name: str) -> Any:
        method = self.__dict__.get("_methods", {}).get(name)
        if method is None:
            raise AttributeError(name)
        call = self._streaming(name) if method.server_streaming else self._unary(name)
        setattr(self, name, call)
        return call

    def _metadata(self, metadata: Any) -> tuple[tuple[str, str], ...]:
        return (*(metadata or ()), ("authorization", f"Bearer {self._token()}"))

    def _raise(self, exc: grpc.aio.AioRpcError) -> NoReturn:
        mapped = relayed(exc, self._target)
        if mapped is exc:
            raise exc
        raise mapped from exc

    def _unary(self, name: str) -> Callable[..., Any]:
        path = f"/{self._service}/{name}"
        stub_call = getattr(self._stub, name)
        if self._bare is None:

            async def call(request: Any, *, metadata: Any = None, **options: Any) -> Any:
                try:
                    return await stub_call(request, metadata=self._metadata(metadata), **options)
                except grpc.aio.AioRpcError as exc:
                    self._raise(exc)

            return call
        route = UnaryRoute(path, getattr(self._bare, name), stub_call)

        async def direct(request: Any, *, metadata: Any = None, **options: Any) -> Any:
            # What the runtime's client interceptor would add: the request id, a deadline within the caller's.
            sent = self._metadata(metadata)
            sent = (*sent, *forwarded_request_id(sent))
            timeout = call_timeout(options.pop("timeout", None), self._default_deadline)
            try:
                return await (await route(request, metadata=sent, timeout=timeout, **options))
            except grpc.aio.AioRpcError as exc:
                self._raise(exc)

        return direct

    def _streaming(self, name: str) -> Callable[..., AsyncIterator[Any]]:
        async def call(request: Any, *, metadata: Any = None, **options: Any) -> AsyncIterator[Any]:
            multicallable = getattr(self._stub, name)
            try:
                async for response in multicallable(request, metadata=self._metadata(metadata), **options):
                    yield response
            except grpc.aio.AioRpcError as exc:
                self._raise(exc)

        return call


class Channels:
    """The channels one process holds to the services it calls (and only those).

    Without an `authority` (the HTTP gateway) there is no service token: the gateway calls through
    `channel()` with its client's own token as call metadata, so a request without one stays
    unauthenticated instead of borrowing a service token.
    """

    def __init__(self, caller: str, settings: Settings, authority: TokenAuthority | None) -> None:
        self._caller = caller
        self._settings = settings
        self._allowed = CALL_GRAPH.get(caller, frozenset())
        self._channels: dict[str, grpc.aio.Channel] = {}
        # Without interceptors, for PeerStub's unary calls (gRPC core shares the connection between the two).
        self._bare_channels: dict[str, grpc.aio.Channel] = {}
        self._own_token = ""
        self._own_token_renew_at = 0.0
        self._authority = authority

    def service_token(self) -> str:
        """The process's own service token, re-issued well before it expires (consumers run for days)."""
        if self._authority is None:
            raise RuntimeError(f"{self._caller} has no service token (it only forwards its clients' tokens)")
        now = time.monotonic()
        if now >= self._own_token_renew_at:
            self._own_token = self._authority.issue_service_token(self._caller, ttl_seconds=SERVICE_TOKEN_TTL_SECONDS)
            self._own_token_renew_at = now + SERVICE_TOKEN_TTL_SECONDS / 2
        return self._own_token

    def channel(self, target: str) -> grpc.aio.Channel:
        if target not in self._allowed:
            raise ValueError(f"{self._caller} does not call {target} (see topology.CALL_GRAPH)")
        if target not in self._channels:
            interceptors = [
                *client_interceptors(),
                *runtime_client_interceptors(self._settings.default_deadline_seconds),
            ]
            self._channels[target] = grpc.aio.insecure_channel(
                self._settings.addresses[target], options=channel_options(target), interceptors=interceptors
            )
        return self._channels[target]

    def bare_channel(self, target: str) -> grpc.aio.Channel:
        """`target`'s channel with no interceptors, for UnaryRoute (gRPC core shares the connection)."""
        self.channel(target)  # the same checks, and the channel streams and recorded calls take
        if target not in self._bare_channels:
            self._bare_channels[target] = grpc.aio.insecure_channel(
                self._settings.addresses[target], options=channel_options(target)
            )
        return self._bare_channels[target]

    def stub(self, target: str, stub_class: type[StubT], *, as_: Acting) -> StubT:
        """`stub_class` on `target`'s channels, every call made as the caller or as this service (see module)."""
        token = caller_token if as_ is CALLER else self.service_token
        return cast(
            StubT,
            PeerStub(
                target,
                stub_class(self.channel(target)),  # type: ignore[call-arg]
                token,
                bare_stub=stub_class(self.bare_channel(target)),  # type: ignore[call-arg]
                default_deadline=self._settings.default_deadline_seconds,
            ),
        )

    async def close(self) -> None:
        for channel in (*self._channels.values(), *self._bare_channels.values()):
            await channel.close()
        self._channels.clear()
        self._bare_channels.clear()
