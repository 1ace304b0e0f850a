"""Finding people by name over real gRPC and HTTP: a prefix of the username or display name, case and
accents aside, each person once, paged; a query too short or not text is named."""

from __future__ import annotations

import secrets

import grpc
import httpx
import pytest

from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.rich_status import field_violations
from tests.support.users import sign_up


def users(mesh: Mesh) -> user_pb2_grpc.UserServiceStub:
    return user_pb2_grpc.UserServiceStub(mesh.channel("user"))


async def test_people_are_found_by_prefix_case_and_accents_aside_and_paged(mesh: Mesh, gateway: str) -> None:
    tag = "q" + secrets.token_hex(3)  # a name no other test has
    zoe = await sign_up(mesh, f"{tag}_zoe", display_name=f"Zoë {tag.upper()}ström", sign_in=False)
    amy = await sign_up(mesh, f"{tag}_amy", display_name="Amy", sign_in=False)
    searcher = await sign_up(mesh, sign_in=False)

    first = await users(mesh).SearchUsers(
        user_pb2.SearchUsersRequest(query=f"@{tag.upper()}", page_size=1), metadata=searcher.metadata
    )
    rest = await users(mesh).SearchUsers(
        user_pb2.SearchUsersRequest(query=f"@{tag.upper()}", page_size=1, page_token=first.next_page_token),
        metadata=searcher.metadata,
    )
    assert [u.user_id for u in [*first.users, *rest.users]] == [amy.user_id, zoe.user_id]  # "…_amy" < "…_zoe"
    accents = await users(mesh).SearchUsers(
        user_pb2.SearchUsersRequest(query=f"zoe {tag}STRO"), metadata=searcher.metadata
    )
    assert [u.user_id for u in accents.users] == [zoe.user_id]

    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        found = await http.get("/v1/users:search", params={"query": f"{tag}_z"}, headers=searcher.headers)
        assert found.status_code == 200, found.text
        assert [u["userId"] for u in found.json()["users"]] == [str(zoe.user_id)]
        short = await http.get("/v1/users:search", params={"query": "@a"}, headers=searcher.headers)
        assert list(field_violations(short)) == ["query"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).SearchUsers(user_pb2.SearchUsersRequest(query="ab\x00"), metadata=searcher.metadata)
    assert list(field_violations(caught.value)) == ["query"]
