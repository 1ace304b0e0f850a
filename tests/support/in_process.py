"""A service's real gRPC server in the test's own process: the runtime's interceptor stack
(services.runtime.server.start_server, as every service starts it) serving a test servicer on a free
loopback port. For handler and interceptor tests that need real gRPC but no subprocess mesh.

async with serving(tmp_path, "photo", add_servicer) as server:    # SERVING unless ready=False
    await server.stub(photo_pb2_grpc.PhotoServiceStub).GetPhoto(request, metadata=server.auth(user_id=7))
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2

from services.runtime.config import Settings
from services.runtime.interceptors import DeletedUserCheck, Lifecycle
from services.runtime.server import Runtime, Served, start_server
from tests.support.mesh import AUTH_SECRET, auth, free_port

StubT = TypeVar("StubT")


@dataclass
class InProcessServer:
    runtime: Runtime
    lifecycle: Lifecycle
    served: Served
    address: str
    channel: grpc.aio.Channel

    def stub(self, stub_class: type[StubT]) -> StubT:
        return stub_class(self.channel)  # type: ignore[call-arg]

    def auth(self, user_id: int) -> tuple[tuple[str, str], ...]:
        """Call metadata with a token the server accepts for `user_id`."""
        return auth(self.runtime.tokens.issue_user_token(user_id)[0])

    async def ready(self) -> None:
        """What the bootstrap does once its components have started: SERVING, calls let in."""
        await self.served.set_health(health_pb2.HealthCheckResponse.SERVING)
        self.lifecycle.ready = True


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path,
    name: str,
    add_servicers: Callable[[Runtime], Any],
    *,
    deleted_users: DeletedUserCheck | None = None,
    ready: bool = True,
    env: dict[str, str] | None = None,
) -> AsyncIterator[InProcessServer]:
    """Serve `name`'s servicers (added to the runtime by `add_servicers`) in this process."""
    port = free_port()
    settings = Settings.from_env(
        {
            "SHUTTER_DATA_DIR": str(tmp_path),
            "SHUTTER_AUTH_SECRET": AUTH_SECRET,
            f"SHUTTER_{name.upper()}_PORT": str(port),
            **(env or {}),
        }
    )
    runtime = Runtime(name, settings)
    add_servicers(runtime)
    lifecycle = Lifecycle()
    address = f"127.0.0.1:{port}"
    served = await start_server(runtime, lifecycle, deleted_users, address)
    server = InProcessServer(runtime, lifecycle, served, address, grpc.aio.insecure_channel(address))
    try:
        if ready:
            await server.ready()
        yield server
    finally:
        await server.channel.close()
        await served.server.stop(0)
        await runtime.channels.close()
