"""SIGTERM under load, for real: in-flight RPCs complete, new ones are refused, exit code 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import grpc
import pytest

from services.runtime.auth import TokenAuthority
from services.runtime.mesh import wait_until_serving
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import AUTH_SECRET, ROOT, auth, free_port


@pytest.mark.slow
async def test_sigterm_drains_in_flight_and_refuses_new(tmp_path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SHUTTER_VIEW_PORT": str(port),
        "SHUTTER_DATA_DIR": str(tmp_path),
        "SHUTTER_AUTH_SECRET": AUTH_SECRET,
        "SHUTTER_SHUTDOWN_GRACE_SECONDS": "5",
        "SHUTTER_TEST_DELAY_SECONDS": "1.5",
    }
    process = subprocess.Popen([sys.executable, "-m", "tests.support.slow_service"], cwd=ROOT, env=env)
    address = f"127.0.0.1:{port}"
    try:
        assert await wait_until_serving(address, 30)
        token = TokenAuthority(AUTH_SECRET, 60).issue_user_token(1)[0]
        async with grpc.aio.insecure_channel(address) as channel:
            stub = view_pb2_grpc.ViewServiceStub(channel)
            in_flight = [
                asyncio.ensure_future(
                    stub.ViewPhoto(view_pb2.ViewPhotoRequest(photo_id=1, user_id=1), metadata=auth(token), timeout=10)
                )
                for _ in range(50)
            ]
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            async with grpc.aio.insecure_channel(address) as fresh:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await view_pb2_grpc.ViewServiceStub(fresh).ViewPhoto(
                        view_pb2.ViewPhotoRequest(photo_id=1, user_id=1), metadata=auth(token), timeout=2
                    )
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            results = await asyncio.gather(*in_flight, return_exceptions=True)
        assert all(isinstance(r, view_pb2.ViewPhotoResponse) for r in results), results
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
