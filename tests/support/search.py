"""Search helpers for tests: unique words, searching as a user, waiting until the index catches up."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import grpc
from google.rpc import error_details_pb2, status_pb2

from shutter.search.v1 import search_pb2, search_pb2_grpc
from tests.support.mesh import ROOT, Mesh, auth

SEARCHER = 7001


def unique_word() -> str:
    """A word no other test uses, so tests sharing the session's mesh cannot see each other's photos."""
    return "zq" + uuid.uuid4().hex[:12]


def search_stub(mesh: Mesh) -> search_pb2_grpc.SearchServiceStub:
    return search_pb2_grpc.SearchServiceStub(mesh.channel("search"))


async def search(mesh: Mesh, **query: object) -> search_pb2.SearchPhotosResponse:
    request = search_pb2.SearchPhotosRequest(**query)
    return await search_stub(mesh).SearchPhotos(request, metadata=auth(mesh.user_token(SEARCHER)), timeout=5)


async def ids(mesh: Mesh, **query: object) -> list[int]:
    return [hit.photo_id for hit in (await search(mesh, page_size=100, **query)).hits]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def until_ids(mesh: Mesh, expected: list[int], timeout: float = 20, **query: object) -> None:
    async def matches() -> bool:
        return await ids(mesh, **query) == expected

    try:
        await eventually(matches, timeout)
    except AssertionError:
        raise AssertionError(f"search {query} gave {await ids(mesh, **query)}, expected {expected}") from None


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad_request = error_details_pb2.BadRequest()
                if detail.Unpack(bad_request):
                    return {v.field: v.description for v in bad_request.field_violations}
    return {}


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
