"""Public RPCs wait for readiness too: CreateUser before the user service's dependencies are up is
UNAVAILABLE (retryable), never INTERNAL from an unstarted store."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.users import DEFAULT_PASSWORD, unique_username
from tests.support.waiting import eventually


async def _health(mesh: Mesh) -> health_pb2.HealthCheckResponse.ServingStatus:
    """The user service's health once it listens (it binds its port before starting anything)."""
    stub = health_pb2_grpc.HealthStub(mesh.channel("user"))

    async def answered() -> health_pb2.HealthCheckResponse.ServingStatus:
        try:
            return (await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)).status
        except grpc.aio.AioRpcError as exc:
            raise AssertionError(f"no answer yet: {exc.code()}") from exc

    return await eventually(answered, 30, interval=0.1)


@pytest.mark.slow
async def test_create_user_before_the_service_is_ready_is_unavailable_then_succeeds(tmp_path: Path) -> None:
    lone = Mesh(tmp_path, services=("user",))
    try:
        lone.start_service("user")  # NATS is not running, so the service cannot become ready
        assert await _health(lone) == health_pb2.HealthCheckResponse.NOT_SERVING
        users = user_pb2_grpc.UserServiceStub(lone.channel("user"))
        request = user_pb2.CreateUserRequest(username=unique_username("early"), password=DEFAULT_PASSWORD)
        for call in (
            users.CreateUser(request, timeout=5),
            users.Authenticate(user_pb2.AuthenticateRequest(username="nobody", password=DEFAULT_PASSWORD), timeout=5),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value.details()

        lone.start_nats()
        await lone.wait_serving("user")
        created = await users.CreateUser(request, timeout=30)
        assert created.user.username == request.username
    finally:
        await lone.close()
