"""`GET /healthz`: the mesh's health as the gateway sees it, one grpc.health.v1 check per service."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.requests import Request
from starlette.responses import JSONResponse

from services.runtime.channels import Channels
from services.runtime.topology import SERVICE_NAMES


async def _check(channels: Channels, name: str) -> str:
    try:
        reply = await health_pb2_grpc.HealthStub(channels.channel(name)).Check(
            health_pb2.HealthCheckRequest(), timeout=1
        )
    except grpc.aio.AioRpcError as exc:
        return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def healthz(request: Request) -> JSONResponse:
    channels: Channels = request.app.state.backends.channels
    statuses = await asyncio.gather(*(_check(channels, name) for name in SERVICE_NAMES))
    services = dict(zip(SERVICE_NAMES, statuses, strict=True))
    healthy = all(status == "SERVING" for status in statuses)
    return JSONResponse(
        {"status": "SERVING" if healthy else "NOT_SERVING", "services": services},
        status_code=200 if healthy else 503,
    )
