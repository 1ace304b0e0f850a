"""Signing up real users through the running UserService, for any test that needs accounts.

alice = await sign_up(mesh)                       # a fresh, unique account with a real token
followers = await sign_up_many(mesh, 20)          # several at once (hashing is slow: be modest)
await alice.follow(mesh, bob)                     # helpers for the common follow set-up
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh, auth

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count()


@dataclass(frozen=True)
class SignedUp:
    user: user_pb2.User
    password: str
    token: str

    @property
    def user_id(self) -> int:
        return self.user.user_id

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata authenticating as this user."""
        return auth(self.token)

    async def follow(self, mesh: Mesh, other: SignedUp) -> follow_pb2.FollowResponse:
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
        return SignedUp(user=created.user, password=password, token=mesh.user_token(created.user.user_id))
    reply = await stub.Authenticate(user_pb2.AuthenticateRequest(username=username, password=password), timeout=30)
    return SignedUp(user=reply.user, password=password, token=reply.access_token)


async def sign_up_many(mesh: Mesh, count: int, prefix: str = "u") -> list[SignedUp]:
    """Many accounts at once, each with a test-minted token (one password hash per account)."""
    return list(await asyncio.gather(*(sign_up(mesh, unique_username(prefix), sign_in=False) for _ in range(count))))


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations an INVALID_ARGUMENT carries: field → description."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            found: dict[str, str] = {}
            for detail in status.details:
                bad_request = error_details_pb2.BadRequest()
                if detail.Unpack(bad_request):
                    found.update({v.field: v.description for v in bad_request.field_violations})
            return found
    return {}


async def refused_as_deleted(call: Callable[[], Awaitable[object]], timeout: float = 10) -> grpc.aio.AioRpcError:
    """Retry `call` until it answers UNAUTHENTICATED "account deleted" (the event takes a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await call()
            error = None
        except grpc.aio.AioRpcError as exc:
            error = exc
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED and "deleted" in (exc.details() or ""):
                return exc
        if time.monotonic() > deadline:
            raise AssertionError(f"still not refused as deleted: {error.code() if error else 'OK'}")
        await asyncio.sleep(0.1)
