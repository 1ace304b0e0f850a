"""The HTTP gateway's ASGI app. For now only /healthz, which aggregates the mesh's health.

Routes from google.api.http annotations come with the gateway issue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.runtime.config import Settings
from services.runtime.logs import configure_logging
from services.runtime.topology import SERVICE_NAMES


def create_app(settings: Settings) -> Starlette:
    channels = {name: grpc.aio.insecure_channel(settings.addresses[name]) for name in SERVICE_NAMES}

    async def check(name: str) -> str:
        try:
            reply = await health_pb2_grpc.HealthStub(channels[name]).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    async def healthz(request: Request) -> JSONResponse:
        statuses = await asyncio.gather(*(check(name) for name in SERVICE_NAMES))
        services = dict(zip(SERVICE_NAMES, statuses, strict=True))
        healthy = all(status == "SERVING" for status in statuses)
        return JSONResponse(
            {"status": "SERVING" if healthy else "NOT_SERVING", "services": services},
            status_code=200 if healthy else 503,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for channel in channels.values():
            await channel.close()

    return Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)


def main() -> None:
    configure_logging("gateway")
    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.gateway_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
