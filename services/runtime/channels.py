"""Client channels: one long-lived channel per target, retries from the contracts themselves.

Methods marked `idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT` in protos/ are retried on
UNAVAILABLE by gRPC's own retry machinery (service config `retryPolicy` with `retryThrottling`);
nothing else is retried.
"""

from __future__ import annotations

import json
import time
from typing import Any, TypeVar

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import ServiceDescriptor

from services.runtime.auth import TokenAuthority
from services.runtime.config import Settings
from services.runtime.interceptors import ClientInterceptor
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


class Channels:
    """The channels one process holds to the services it calls (and only those).

    Without an `authority` (the HTTP gateway) calls carry only the caller's own token, given as
    call metadata: a request without one stays unauthenticated instead of borrowing a service token.
    """

    def __init__(self, caller: str, settings: Settings, authority: TokenAuthority | None) -> None:
        self._caller = caller
        self._settings = settings
        self._allowed = CALL_GRAPH.get(caller, frozenset())
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._own_token = ""
        self._own_token_renew_at = 0.0
        self._authority = authority

    def _token(self) -> str:
        """The process's own service token, re-issued well before it expires (consumers run for days)."""
        assert self._authority is not None, "only called when the process has an authority"
        now = time.monotonic()
        if now >= self._own_token_renew_at:
            self._own_token = self._authority.issue_service_token(self._caller, ttl_seconds=SERVICE_TOKEN_TTL_SECONDS)
            self._own_token_renew_at = now + SERVICE_TOKEN_TTL_SECONDS / 2
        return self._own_token

    def channel(self, target: str) -> grpc.aio.Channel:
        if target not in self._allowed:
            raise ValueError(f"{self._caller} does not call {target} (see topology.CALL_GRAPH)")
        if target not in self._channels:
            options = [
                *KEEPALIVE_OPTIONS,
                *RECONNECT_OPTIONS,
                ("grpc.enable_retries", 1),
                ("grpc.service_config", json.dumps(service_config(CONTRACTS[target]))),
            ]
            own_token = self._token if self._authority is not None else None
            interceptor = ClientInterceptor(self._settings.default_deadline_seconds, own_token, target)
            self._channels[target] = grpc.aio.insecure_channel(
                self._settings.addresses[target], options=options, interceptors=[interceptor]
            )
        return self._channels[target]

    def stub(self, target: str, stub_class: type[StubT]) -> StubT:
        return stub_class(self.channel(target))  # type: ignore[call-arg]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
