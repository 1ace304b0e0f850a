"""Session-wide fixtures: one real mesh (nats-server + every service) for the whole run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.mesh import Mesh


@pytest.fixture(scope="session")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    running = Mesh(Path(tmp_path_factory.mktemp("mesh")))
    try:
        await running.start()
        yield running
    finally:
        await running.close()
