"""Readiness tells the truth about what the service can do: the user service, started with no NATS
at all, is SERVING and signs people up (its events wait in the outbox); NATS arriving later changes
nothing for its clients. Before SERVING (store not started) RPCs are UNAVAILABLE, never INTERNAL: the
interceptor refuses every non-health call until the service's components have started."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh, free_port
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
async def test_the_user_service_serves_without_nats_and_keeps_serving_when_it_arrives(tmp_path: Path) -> None:
    lone = Mesh(tmp_path, services=("user",))
    try:
        lone.start_service("user")  # NATS is not running
        await lone.wait_serving("user")
        assert await _health(lone) == health_pb2.HealthCheckResponse.SERVING
        users = user_pb2_grpc.UserServiceStub(lone.channel("user"))
        request = user_pb2.CreateUserRequest(username=unique_username("early"), password=DEFAULT_PASSWORD)
        created = await users.CreateUser(request, timeout=30)
        assert created.user.username == request.username
        signed_in = await users.Authenticate(
            user_pb2.AuthenticateRequest(username=request.username, password=DEFAULT_PASSWORD), timeout=30
        )
        assert signed_in.access_token

        lone.start_nats()
        again = user_pb2.CreateUserRequest(username=unique_username("later"), password=DEFAULT_PASSWORD)
        assert (await users.CreateUser(again, timeout=30)).user.username == again.username
        assert await _health(lone) == health_pb2.HealthCheckResponse.SERVING
    finally:
        await lone.close()


@pytest.mark.slow
async def test_rpcs_before_the_store_is_up_are_unavailable_not_internal(tmp_path: Path) -> None:
    """The CQL store cannot be reached (nothing listens on its port): health stays NOT_SERVING, and
    even the public RPCs answer UNAVAILABLE (retryable), never INTERNAL from an unstarted store."""
    lone = Mesh(tmp_path, services=("user",), extra_env={"SHUTTER_STORE": "cql", "SHUTTER_CQL_PORT": str(free_port())})
    try:
        lone.start_service("user")
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
    finally:
        await lone.close()
