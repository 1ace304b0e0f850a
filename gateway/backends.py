"""The gateway's side of the mesh: one long-lived channel per service, from the shared runtime.

Channels come from services.runtime.channels (retry service config from the contracts, keepalive,
deadlines). The gateway has no token of its own: it forwards the client's `Authorization` header
and request id as call metadata, and the services decide.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

import grpc
from starlette.requests import Request

from gateway.errors import HEADERS_TOO_LARGE, GatewayError, invalid_argument
from gateway.routes import Route
from gateway.transcoding import message_class
from services.runtime.channels import Channels, UnaryRoute
from services.runtime.config import Settings
from services.runtime.limits import CLIENT_ADDRESS_KEY, in_networks

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REQUEST_ID_HEADER = "x-request-id"
# grpc-gateway's way for a client to set its deadline: `Grpc-Timeout: 30S` (gRPC's own wire format:
# at most 8 ASCII digits and a unit).
TIMEOUT_HEADER = "grpc-timeout"
_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
# gRPC refuses metadata over 8 KiB (its default soft limit) with RESOURCE_EXHAUSTED; the token is the
# only large thing forwarded, and no token we issue comes near this.
MAX_AUTHORIZATION_BYTES = 4096


class Backends:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.channels = Channels("gateway", settings, authority=None)
        self._callables: dict[tuple[str, str], Any] = {}

    def callable(self, route: Route) -> Any:
        """The multi-callable for a route's RPC, made once per process. A unary RPC's is a UnaryRoute (the
        bare channel but for traced calls: services.runtime.channels); awaiting it gives the finished call."""
        key = (route.service, route.grpc_path)
        if key not in self._callables:
            serialize = message_class(route.method.input_type).SerializeToString
            deserialize = message_class(route.method.output_type).FromString

            def on(channel: grpc.aio.Channel) -> Any:
                kind = {
                    (False, False): channel.unary_unary,
                    (True, False): channel.stream_unary,
                    (False, True): channel.unary_stream,
                }[(route.method.client_streaming, route.method.server_streaming)]
                return kind(route.grpc_path, request_serializer=serialize, response_deserializer=deserialize)

            intercepted = on(self.channels.channel(route.service))
            streaming = route.method.client_streaming or route.method.server_streaming
            self._callables[key] = (
                intercepted
                if streaming
                else UnaryRoute(route.grpc_path, on(self.channels.bare_channel(route.service)), intercepted)
            )
        return self._callables[key]

    async def close(self) -> None:
        await self.channels.close()


def client_address(request: Request, trusted_proxies: Sequence[Network]) -> str:
    """The HTTP client's address: the connection's peer, or, when that peer is a trusted proxy
    (SHUTTER_GATEWAY_TRUSTED_PROXIES), the nearest X-Forwarded-For hop that is not one. A client's own
    X-Forwarded-For is believed only as far as the trusted proxies vouch for it."""
    peer = request.client.host if request.client else ""
    if not in_networks(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    for hop in reversed(hops):
        if not in_networks(hop, trusted_proxies):
            return hop if _is_address(hop) else peer
    return peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def call_metadata(request: Request, trusted_proxies: Sequence[Network] = ()) -> tuple[tuple[str, str], ...]:
    """What travels to the service: the client's credentials, the request id and the client's address (for
    per-address limits; built here, so whatever a client sends under that name never passes), nothing else."""
    metadata = [(REQUEST_ID_HEADER, request.state.request_id)]  # a plain token (gateway.middleware.request_id)
    address = client_address(request, trusted_proxies)
    if address:
        metadata.append((CLIENT_ADDRESS_KEY, address))
    authorization = request.headers.get("authorization")
    if authorization:
        if len(authorization) > MAX_AUTHORIZATION_BYTES:
            raise GatewayError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the Authorization header is longer than {MAX_AUTHORIZATION_BYTES} bytes",
                http=HEADERS_TOO_LARGE,
            )
        if not authorization.isascii() or not authorization.isprintable():
            # gRPC metadata cannot carry it, and no token we issue looks like that.
            raise GatewayError(grpc.StatusCode.UNAUTHENTICATED, "the Authorization header is not a bearer token")
        metadata.append(("authorization", authorization))
    return tuple(metadata)


def call_timeout(request: Request, default: float, maximum: float) -> float:
    """The client's `Grpc-Timeout` in seconds (at most `maximum`), else `default`; a malformed one is
    the client's error. Clamped because a huge one (99999999H) overflows gRPC's deadline into "now"."""
    raw = request.headers.get(TIMEOUT_HEADER)
    if raw is None:
        return default
    parsed = _TIMEOUT.fullmatch(raw)
    if parsed is None:
        raise invalid_argument(TIMEOUT_HEADER, "must be up to 8 digits and a unit (H, M, S, m, u, n), e.g. 30S")
    return min(int(parsed[1]) * _TIMEOUT_UNITS[parsed[2]], maximum)
