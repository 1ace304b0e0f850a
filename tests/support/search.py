"""Search helpers for tests: unique words, searching as a user, waiting until the index catches up."""

from __future__ import annotations

import asyncio
import sys
import uuid

from shutter.search.v1 import search_pb2, search_pb2_grpc
from tests.support.mesh import ROOT, Mesh
from tests.support.users import Identity
from tests.support.waiting import eventually


def unique_word() -> str:
    """A word no other test uses, so tests sharing the session's mesh cannot see each other's photos."""
    return "zq" + uuid.uuid4().hex[:12]


def search_stub(mesh: Mesh) -> search_pb2_grpc.SearchServiceStub:
    return search_pb2_grpc.SearchServiceStub(mesh.channel("search"))


async def search(mesh: Mesh, searcher: Identity, **query: object) -> search_pb2.SearchPhotosResponse:
    request = search_pb2.SearchPhotosRequest(**query)
    return await search_stub(mesh).SearchPhotos(request, metadata=searcher.metadata, timeout=5)


async def ids(mesh: Mesh, searcher: Identity, **query: object) -> list[int]:
    return [hit.photo_id for hit in (await search(mesh, searcher, page_size=100, **query)).hits]


async def until_ids(mesh: Mesh, searcher: Identity, expected: list[int], timeout: float = 20, **query: object) -> None:
    """Until the search answers exactly `expected` (indexing follows the photo events)."""

    async def matches() -> None:
        found = await ids(mesh, searcher, **query)
        assert found == expected, f"search {query} gave {found}, expected {expected}"

    await eventually(matches, timeout)


async def run_reindex(mesh: Mesh, *args: str) -> str:
    """The real reindex command against `mesh`'s settings; its output, or a failure showing it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.search.reindex",
        *args,
        cwd=ROOT,
        env=mesh.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode(errors="replace")
    return output.decode(errors="replace")
