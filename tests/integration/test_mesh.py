"""Every service of the running mesh: health, authentication at the door, honest UNIMPLEMENTED."""

from __future__ import annotations

import json

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.topology import CONTRACTS, SERVICE_NAMES
from tests.support.mesh import Mesh, auth
from tests.support.users import SignedUp, sign_up


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_health_reports_serving_for_server_and_service(mesh: Mesh, name: str) -> None:
    stub = health_pb2_grpc.HealthStub(mesh.channel(name))
    for service in ("", CONTRACTS[name].full_name):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def _call_first_unary(mesh: Mesh, name: str, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
    """Call a protected unary RPC of the service with an empty request; return its status."""
    service = CONTRACTS[name]
    method = next(
        m for m in service.methods
        if not m.client_streaming and not m.server_streaming and m.name not in {"CreateUser", "Authenticate"}
    )  # fmt: skip
    from google.protobuf import symbol_database

    request_class = symbol_database.Default().GetSymbol(method.input_type.full_name)
    call = mesh.channel(name).unary_unary(
        f"/{service.full_name}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    try:
        await call(request_class(), metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_protected_rpcs_need_a_valid_token(mesh: Mesh, name: str) -> None:
    assert await _call_first_unary(mesh, name, ()) == grpc.StatusCode.UNAUTHENTICATED
    assert await _call_first_unary(mesh, name, auth("not-a-token")) == grpc.StatusCode.UNAUTHENTICATED
    assert (
        await _call_first_unary(mesh, name, (("authorization", "Basic dXNlcjpwdw=="),))
        == grpc.StatusCode.UNAUTHENTICATED
    )


# Services whose first unary RPC takes an empty request as a real question: GetFeed reads the caller's own
# feed (user_id defaults to the token's user; tests/integration/test_caller_defaults.py checks the answer), and
# ListNotifications the caller's own notifications.
EMPTY_REQUEST_IS_A_QUESTION = {"feed", "notification"}  # "my feed", "my notifications"


@pytest.fixture(scope="module")
async def caller(mesh: Mesh) -> SignedUp:
    return await sign_up(mesh, sign_in=False)


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_authenticated_empty_request_is_never_a_fake_success(mesh: Mesh, caller: SignedUp, name: str) -> None:
    """An empty request must be rejected (bad input), missing (UNIMPLEMENTED) or not found."""
    code = await _call_first_unary(mesh, name, caller.metadata)
    if name in EMPTY_REQUEST_IS_A_QUESTION:
        assert code == grpc.StatusCode.OK
        return
    assert code in {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.NOT_FOUND,
    }


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_every_service_runs_on_uvloop(mesh: Mesh, name: str) -> None:
    """SHUTTER_EVENT_LOOP's default (services.runtime.loop): each process logs the loop it really got."""
    lines = [json.loads(line) for line in (mesh.logs / f"{name}.log").read_text().splitlines() if line.startswith("{")]
    listening = [line for line in lines if line.get("msg") == "listening"]
    assert listening and {line["event_loop"] for line in listening} == {"uvloop"}, listening
