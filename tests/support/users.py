"""Who a test acts as: real accounts, signed up through the running UserService. One way, for every test.

alice = await sign_up(mesh)                       # a fresh, unique account with a token UserService issued
owner, fan = await sign_up_many(mesh, 2)          # several at once (hashing is slow: be modest)
await alice.follow(mesh, bob)                     # helpers for the common follow set-up
bob = await sign_up_over_http(http, "bob")        # the same, through the gateway (e2e)

Only a mesh that runs without the user service (a photo-only or search-only mesh) cannot sign anyone up;
there, and only there, `user_without_account` gives a valid token for an id that has no account.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

import grpc
import httpx

from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.waiting import eventually

DEFAULT_PASSWORD = "correct horse battery staple"
# Password hashing is slow on a busy test machine: HTTP sign-ups get the time the gRPC ones get.
SLOW = {"Grpc-Timeout": "30S"}
_counter = itertools.count()
# Ids with no account: far below the user service's time-ordered 64-bit ids, and never the same twice a session.
_ids_without_account = itertools.count(random.randrange(10**9, 2 * 10**9))


@dataclass(frozen=True)
class Identity:
    """A user id and a bearer token for it: what a call is made as."""

    user_id: int
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC call metadata authenticating as this user."""
        return auth(self.token)

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers authenticating as this user (through the gateway)."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class SignedUp(Identity):
    """An account the user service holds."""

    user: user_pb2.User
    password: str

    @property
    def username(self) -> str:
        return self.user.username

    async def follow(self, mesh: Mesh, other: Identity) -> follow_pb2.FollowResponse:
        return await follow_pb2_grpc.FollowServiceStub(mesh.channel("follow")).Follow(
            follow_pb2.FollowRequest(follower_id=self.user_id, followee_id=other.user_id),
            metadata=self.metadata,
            timeout=10,
        )


def unique_username(prefix: str = "u") -> str:
    """A username no other test (or earlier run against the same data) will pick: ≤ 30 chars."""
    return f"{prefix[:10]}_{next(_counter)}_{uuid.uuid4().hex[:12]}"


async def sign_up(
    mesh: Mesh,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    display_name: str = "Test User",
    bio: str = "",
    sign_in: bool = True,
) -> SignedUp:
    """Create the account and sign in, so the token is one UserService itself issued.

    sign_in=False mints an equivalent token with the test secret instead, saving one password hash.
    """
    stub = user_pb2_grpc.UserServiceStub(mesh.channel("user"))
    username = username or unique_username()
    created = await stub.CreateUser(
        user_pb2.CreateUserRequest(username=username, display_name=display_name, bio=bio, password=password),
        timeout=30,
    )
    if not sign_in:
        user_id = created.user.user_id
        return SignedUp(user_id=user_id, token=mesh.user_token(user_id), user=created.user, password=password)
    reply = await stub.Authenticate(user_pb2.AuthenticateRequest(username=username, password=password), timeout=30)
    return SignedUp(user_id=reply.user.user_id, token=reply.access_token, user=reply.user, password=password)


async def sign_up_many(mesh: Mesh, count: int, prefix: str = "u") -> list[SignedUp]:
    """Many accounts at once, each with a test-minted token (one password hash per account)."""
    return list(await asyncio.gather(*(sign_up(mesh, unique_username(prefix), sign_in=False) for _ in range(count))))


class HttpUser(NamedTuple):
    """An account made through the gateway, as a client sees it: the id is the JSON string the API gives."""

    user_id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up_over_http(http: httpx.AsyncClient, prefix: str, password: str = DEFAULT_PASSWORD) -> HttpUser:
    """POST /v1/users then POST /v1/auth/token, checking the answers' shape on the way."""
    username = f"{prefix[:10]}_{uuid.uuid4().hex[:12]}"
    created = await http.post(
        "/v1/users", json={"username": username, "password": password, "displayName": prefix}, headers=SLOW
    )
    assert created.status_code == 200, created.text
    user_id = created.json()["user"]["userId"]
    assert isinstance(user_id, str) and user_id.isdigit()  # int64 as a JSON string
    signed_in = await http.post("/v1/auth/token", json={"username": username, "password": password}, headers=SLOW)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["userId"] == user_id
    return HttpUser(user_id, username, signed_in.json()["accessToken"])


def user_without_account(mesh: Mesh, user_id: int | None = None) -> Identity:
    """A valid token for a user id the user service has never seen (a fresh one unless `user_id` is given).

    Only for meshes that run without the user service, where nobody can sign up, and for ids that must be
    known before any mesh exists (test parameters). Everywhere else, sign up.
    """
    chosen = next(_ids_without_account) if user_id is None else user_id
    return Identity(user_id=chosen, token=mesh.user_token(chosen))


async def refused_as_deleted(call: Callable[[], Awaitable[object]], timeout: float = 10) -> grpc.aio.AioRpcError:
    """Retry `call` until it answers UNAUTHENTICATED "account deleted" (the event takes a moment)."""

    async def refused() -> grpc.aio.AioRpcError:
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED and "deleted" in (exc.details() or ""), exc.code()
            return exc
        raise AssertionError("still not refused as deleted: OK")

    return await eventually(refused, timeout, interval=0.1)
