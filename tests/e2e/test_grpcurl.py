"""The real grpcurl, as an operator would use it, against every service of the running mesh."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from services.runtime.topology import CONTRACTS, SERVICE_NAMES
from tests.support.mesh import Mesh


def grpcurl() -> str:
    path = shutil.which("grpcurl")
    assert path, "grpcurl is not installed: `make tools` (make test does it) installs it with go install"
    return path


async def run_grpcurl(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        grpcurl(), "-plaintext", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_reflection_lists_the_service_and_health(mesh: Mesh, name: str) -> None:
    code, out, err = await run_grpcurl(mesh.address(name), "list")
    assert code == 0, err
    listed = set(out.split())
    assert CONTRACTS[name].full_name in listed
    assert "grpc.health.v1.Health" in listed


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_health_check_answers_serving(mesh: Mesh, name: str) -> None:
    code, out, err = await run_grpcurl(mesh.address(name), "grpc.health.v1.Health/Check")
    assert code == 0, err
    assert json.loads(out) == {"status": "SERVING"}


async def test_describe_shows_the_contract(mesh: Mesh) -> None:
    code, out, err = await run_grpcurl(mesh.address("photo"), "describe", "shutter.photo.v1.PhotoService")
    assert code == 0, err
    assert "rpc UploadPhoto ( stream .shutter.photo.v1.UploadPhotoRequest )" in out


async def test_missing_token_is_unauthenticated_through_grpcurl(mesh: Mesh) -> None:
    code, _, err = await run_grpcurl(
        "-d", '{"photo_id": "1"}', mesh.address("photo"), "shutter.photo.v1.PhotoService/GetPhoto"
    )
    assert code != 0
    assert "Unauthenticated" in err
