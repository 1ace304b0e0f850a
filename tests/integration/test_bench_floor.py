"""The bench's runtime floor is the echo's answer served through the services' runtime, not a bare server:
it refuses a call without a token, answers one with a token, and logs calls like any service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from bench.processes import Baseline, wait_for_serving
from services.runtime.auth import TokenAuthority
from services.runtime.mesh import free_port
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import AUTH_SECRET


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[tuple[Baseline, Path]]:
    env = {
        "SHUTTER_AUTH_SECRET": AUTH_SECRET,
        "SHUTTER_DATA_DIR": str(tmp_path / "data"),
        "SHUTTER_VIEW_METRICS_PORT": str(free_port()),
        "SHUTTER_LOG_LEVEL": "INFO",
    }
    with Baseline("floor", tmp_path, env) as baseline:
        wait_for_serving(baseline.port)
        yield baseline, tmp_path / "baseline-floor.log"


def test_the_floor_answers_through_the_runtime(floor: tuple[Baseline, Path]) -> None:
    baseline, log = floor
    token = TokenAuthority(AUTH_SECRET, 3600).issue_user_token(7)[0]
    request = view_pb2.ViewPhotoRequest(photo_id=3, user_id=7)
    with grpc.insecure_channel(f"127.0.0.1:{baseline.port}") as channel:
        view = view_pb2_grpc.ViewServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            view.ViewPhoto(request, timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answer = view.ViewPhoto(request, metadata=(("authorization", f"Bearer {token}"),), timeout=5)
    assert answer.view.photo.photo_id == 3 and answer.view.like_count == 42 and len(answer.view.comments) == 5
    # The runtime's access log has a line for each call, as every service's has.
    logged = log.read_text()
    assert logged.count("/shutter.view.v1.ViewService/ViewPhoto") == 2, logged[-2000:]


def test_the_echo_is_bare(tmp_path: Path) -> None:
    """The echo needs no token: the floor's refusal above is the runtime's, not the contract's."""
    with Baseline("echo", tmp_path) as echo, grpc.insecure_channel(f"127.0.0.1:{echo.port}") as channel:
        answer = view_pb2_grpc.ViewServiceStub(channel).ViewPhoto(view_pb2.ViewPhotoRequest(photo_id=4), timeout=5)
    assert answer.view.photo.photo_id == 4
