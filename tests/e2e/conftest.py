"""The gateway, started once per session in front of the session's mesh."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.mesh import Mesh


@pytest.fixture(scope="session")
async def gateway(mesh: Mesh) -> AsyncIterator[str]:
    """The gateway's base URL."""
    mesh.start_gateway()
    try:
        await mesh.wait_gateway()
        yield mesh.gateway_url
    finally:
        mesh.stop("gateway")


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        yield client
