"""Abuse limits on the real mesh behind two gateway replicas: counted once across both, answered with 429 and
the RateLimit fields over HTTP and RESOURCE_EXHAUSTED with RetryInfo over gRPC, sign-in lockouts that lift,
upload quotas, and one user's abuse never slowing another.

Each test acts from client addresses of its own: through the gateways with X-Forwarded-For (both trust the
loopback proxy, as a deployment's replicas would trust their load balancer), and over gRPC with the gateway's
client-address metadata (the services trust loopback peers).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2

from services.runtime.errors import unpacked
from services.runtime.limits import CLIENT_ADDRESS_KEY
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import make_jpeg
from tests.support.rich_status import rich_status
from tests.support.users import DEFAULT_PASSWORD, unique_username
from tests.support.waiting import eventually

LIKES_PER_ACCOUNT = 4
SIGNUPS_PER_ADDRESS = 3
UPLOADS_PER_ACCOUNT = 3
USERNAME_FAILURES = 6  # more than any other test here fails for one account
SLOWDOWN_SECONDS = 3.0  # far above a sign-in on a loaded machine, so "not slowed" is clear
SMALL = make_jpeg(64, 48)
BIG = make_jpeg(640, 480)
BYTES_PER_DAY = len(BIG) * 3 // 2  # one BIG fits, a second does not; three SMALL ones do
LIMITS_ENV = {
    "SHUTTER_LIMITS_ENABLED": "1",
    "SHUTTER_LIMIT_SIGNUP_PER_ADDRESS": f"{SIGNUPS_PER_ADDRESS}/3600",
    "SHUTTER_LIMIT_LIKES_PER_ACCOUNT": f"{LIKES_PER_ACCOUNT}/3600",
    "SHUTTER_LIMIT_UPLOADS_PER_ACCOUNT": f"{UPLOADS_PER_ACCOUNT}/3600",
    "SHUTTER_LIMIT_UPLOAD_BYTES_PER_ACCOUNT": f"{BYTES_PER_DAY}/86400",
    "SHUTTER_SIGNIN_FAILURES_BEFORE_LOCKOUT": "2",
    "SHUTTER_SIGNIN_LOCKOUT_SECONDS": "1",
    "SHUTTER_SIGNIN_LOCKOUT_MAX_SECONDS": "2",
    "SHUTTER_SIGNIN_USERNAME_FAILURES": f"{USERNAME_FAILURES}/3600",
    "SHUTTER_SIGNIN_SLOWDOWN_SECONDS": str(SLOWDOWN_SECONDS),
    "SHUTTER_GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
}
_addresses = (f"198.18.{n // 250}.{n % 250 + 1}" for n in itertools.count())
pytestmark = pytest.mark.slow


def new_address() -> str:
    """A client address no other test uses (198.18.0.0/15: set aside for tests)."""
    return next(_addresses)


class Limited:
    """The mesh with limits on, and a client on each of its two gateways."""

    def __init__(self, mesh: Mesh, first: httpx.AsyncClient, second: httpx.AsyncClient) -> None:
        self.mesh = mesh
        self.gateways = (first, second)

    def users(self) -> user_pb2_grpc.UserServiceStub:
        return user_pb2_grpc.UserServiceStub(self.mesh.channel("user"))

    async def sign_up(self) -> tuple[user_pb2.User, str]:
        """A new account and its token, each from an address of its own (sign-up is limited per address)."""
        username, where = unique_username("lim"), ((CLIENT_ADDRESS_KEY, new_address()),)
        request = user_pb2.CreateUserRequest(username=username, display_name="L", password=DEFAULT_PASSWORD)
        await self.users().CreateUser(request, metadata=where, timeout=30)
        signed_in = await self.users().Authenticate(
            user_pb2.AuthenticateRequest(username=username, password=DEFAULT_PASSWORD), metadata=where, timeout=30
        )
        return signed_in.user, signed_in.access_token

    async def photo(self) -> int:
        owner, token = await self.sign_up()
        stub = photo_pb2_grpc.PhotoServiceStub(self.mesh.channel("photo"))
        meta = photo_pb2.UploadPhotoRequest(metadata=photo_pb2.PhotoMetadata(user_id=owner.user_id))
        reply = await stub.UploadPhoto(iter([meta, photo_pb2.UploadPhotoRequest(chunk=SMALL)]), metadata=auth(token))
        return reply.photo.photo_id


@pytest.fixture(scope="module")
async def limited(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Limited]:
    mesh = Mesh(
        Path(tmp_path_factory.mktemp("limits")), services=("user", "follow", "photo", "like"), extra_env=LIMITS_ENV
    )
    try:
        await mesh.start()
        urls = [mesh.start_gateway(), mesh.start_gateway("gateway-2")]
        for url, name in zip(urls, ("gateway", "gateway-2"), strict=True):
            await mesh.wait_gateway(url=url, name=name)
        async with (
            httpx.AsyncClient(base_url=urls[0], timeout=30) as first,
            httpx.AsyncClient(base_url=urls[1], timeout=30) as second,
        ):
            yield Limited(mesh, first, second)
    finally:
        await mesh.close()


def from_address(address: str, token: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": address}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def assert_throttled(response: httpx.Response, limit: int) -> float:
    """A 429 with Retry-After, the RateLimit fields and a RetryInfo; the delay it gives (seconds)."""
    assert response.status_code == 429, response.text
    assert response.json()["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    [info] = [d for d in rich_status(response)["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    delay = float(info["retryDelay"].rstrip("s"))
    assert int(response.headers["Retry-After"]) == max(math.ceil(delay), 0) and delay > 0
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(response.headers["RateLimit-Reset"]) <= 3600
    assert response.headers["RateLimit-Policy"] == f"{limit};w=3600"
    return delay


async def test_a_limit_holds_across_both_gateways_and_spares_other_users(limited: Limited) -> None:
    photo_id = await limited.photo()
    abuser, token = await limited.sign_up()
    address = new_address()
    answers = []
    for attempt in range(LIKES_PER_ACCOUNT + 2):
        gateway = limited.gateways[attempt % 2]  # alternating replicas: the count is one, not one per replica
        answers.append(
            await gateway.put(f"/v1/photos/{photo_id}/likes/{abuser.user_id}", headers=from_address(address, token))
        )
    assert [a.status_code for a in answers] == [200] * LIKES_PER_ACCOUNT + [429, 429], [a.text for a in answers]
    assert [a.headers["RateLimit-Remaining"] for a in answers[:LIKES_PER_ACCOUNT]] == ["3", "2", "1", "0"]
    assert {a.headers["RateLimit-Limit"] for a in answers[:LIKES_PER_ACCOUNT]} == {str(LIKES_PER_ACCOUNT)}
    for refused in answers[LIKES_PER_ACCOUNT:]:
        assert_throttled(refused, LIKES_PER_ACCOUNT)

    # Someone else, meanwhile, from elsewhere: their whole allowance, on either replica.
    bystander, other_token = await limited.sign_up()
    for gateway in limited.gateways:
        response = await gateway.put(
            f"/v1/photos/{photo_id}/likes/{bystander.user_id}", headers=from_address(new_address(), other_token)
        )
        assert response.status_code == 200, response.text
    assert response.headers["RateLimit-Remaining"] == str(LIKES_PER_ACCOUNT - 2)


async def test_over_grpc_the_refusal_is_resource_exhausted_with_retry_info(limited: Limited) -> None:
    photo_id = await limited.photo()
    user, token = await limited.sign_up()
    stub = like_pb2_grpc.LikeServiceStub(limited.mesh.channel("like"))
    metadata = (*auth(token), (CLIENT_ADDRESS_KEY, new_address()))
    request = like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=user.user_id)
    for _ in range(LIKES_PER_ACCOUNT):
        call = stub.LikePhoto(request, metadata=metadata, timeout=10)
        await call
        assert dict(await call.trailing_metadata())["ratelimit-limit"] == str(LIKES_PER_ACCOUNT)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.LikePhoto(request, metadata=metadata, timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    [info] = unpacked(rich_status_of(refused.value).details, error_details_pb2.RetryInfo)
    assert 0 < info.retry_delay.ToNanoseconds() <= 3600e9
    assert dict(refused.value.trailing_metadata())["ratelimit-remaining"] == "0"


def rich_status_of(error: grpc.aio.AioRpcError):
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    return status


async def test_sign_up_is_limited_per_address_whatever_the_client_claims(limited: Limited) -> None:
    address = new_address()
    answers = []
    for attempt in range(SIGNUPS_PER_ADDRESS + 1):
        body = {"username": unique_username("su"), "displayName": "S", "password": DEFAULT_PASSWORD}
        # A client's own X-Shutter-Client-Address is not passed on: the gateway builds that metadata itself.
        headers = {**from_address(address), CLIENT_ADDRESS_KEY: new_address(), "Grpc-Timeout": "30S"}
        answers.append(await limited.gateways[attempt % 2].post("/v1/users", json=body, headers=headers))
    assert [a.status_code for a in answers] == [200] * SIGNUPS_PER_ADDRESS + [429], [a.text for a in answers]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert answers[-1].headers["RateLimit-Limit"] == str(SIGNUPS_PER_ADDRESS)
    elsewhere = await limited.gateways[0].post(
        "/v1/users",
        json={"username": unique_username("su"), "displayName": "S", "password": DEFAULT_PASSWORD},
        headers={**from_address(new_address()), "Grpc-Timeout": "30S"},
    )
    assert elsewhere.status_code == 200, elsewhere.text


async def sign_in(gateway: httpx.AsyncClient, username: str, password: str, address: str) -> httpx.Response:
    return await gateway.post(
        "/v1/auth/token", json={"username": username, "password": password}, headers=from_address(address)
    )


async def test_sign_in_locks_the_guessing_address_out_then_lets_it_back(limited: Limited) -> None:
    owner, _ = await limited.sign_up()
    attacker, home = new_address(), new_address()
    first, second = limited.gateways
    wrong = [await sign_in(gw, owner.username, "wrong password!", attacker) for gw in (first, second)]
    assert [r.status_code for r in wrong] == [401, 401]
    locked = await sign_in(first, owner.username, DEFAULT_PASSWORD, attacker)  # even the right password
    assert locked.status_code == 429, locked.text
    first_lockout = float(rich_status(locked)["details"][0]["retryDelay"].rstrip("s"))
    assert 0 < first_lockout <= 1 and locked.headers["Retry-After"] == "1"

    # The owner, from home, is not locked out by someone else's guessing.
    assert (await sign_in(second, owner.username, DEFAULT_PASSWORD, home)).status_code == 200

    # An account that does not exist answers the same way, step for step.
    nobody = unique_username("nobody")
    answers = [await sign_in(gw, nobody, "wrong password!", attacker) for gw in (first, second, first)]
    assert [r.status_code for r in answers] == [401, 401, 429]
    assert answers[0].json() == wrong[0].json() | {}  # the same words whether the account exists or not

    # The lockout lifts after its window...
    async def signs_in() -> None:
        assert (await sign_in(second, owner.username, DEFAULT_PASSWORD, attacker)).status_code == 200

    await eventually(signs_in, timeout=10, interval=0.2)
    # ...and a signed-in pair starts afresh: two more failures before the next lockout.
    again = [await sign_in(first, owner.username, "wrong password!", attacker) for _ in range(3)]
    assert [r.status_code for r in again] == [401, 401, 429]


async def test_repeated_lockouts_grow_and_are_capped(limited: Limited) -> None:
    owner, _ = await limited.sign_up()
    attacker = new_address()
    first, second = limited.gateways
    for gateway in (first, second):
        assert (await sign_in(gateway, owner.username, "wrong password!", attacker)).status_code == 401
    delays = []
    for _ in range(3):
        refused = await eventually(lambda: _refused(first, owner.username, attacker), timeout=5, interval=0.05)
        delays.append(float(rich_status(refused)["details"][0]["retryDelay"].rstrip("s")))

        async def answers_401() -> None:
            assert (await sign_in(second, owner.username, "wrong password!", attacker)).status_code == 401

        await eventually(answers_401, timeout=10, interval=0.1)
    assert delays[0] <= 1 < delays[1] <= 2, delays  # doubled
    assert 1 < delays[2] <= 2, delays  # capped at SHUTTER_SIGNIN_LOCKOUT_MAX_SECONDS


async def _refused(gateway: httpx.AsyncClient, username: str, address: str) -> httpx.Response | bool:
    response = await sign_in(gateway, username, "wrong password!", address)
    return response if response.status_code == 429 else False


async def test_guessing_from_many_addresses_slows_an_account_down_but_never_locks_it(limited: Limited) -> None:
    owner, _ = await limited.sign_up()
    first, second = limited.gateways
    for attempt in range(USERNAME_FAILURES):  # one failure per address: no pair is ever locked out
        gateway = limited.gateways[attempt % 2]
        assert (await sign_in(gateway, owner.username, "wrong password!", new_address())).status_code == 401
    started = time.monotonic()
    signed_in = await sign_in(second, owner.username, DEFAULT_PASSWORD, new_address())
    assert signed_in.status_code == 200, signed_in.text  # slowed, not refused
    assert time.monotonic() - started >= SLOWDOWN_SECONDS
    other, _ = await limited.sign_up()
    started = time.monotonic()
    assert (await sign_in(first, other.username, DEFAULT_PASSWORD, new_address())).status_code == 200
    assert time.monotonic() - started < SLOWDOWN_SECONDS  # other accounts are not slowed


async def upload(gateway: httpx.AsyncClient, user_id: int, token: str, data: bytes) -> httpx.Response:
    return await gateway.post(
        "/v1/photos", params={"userId": user_id}, content=data, headers=from_address(new_address(), token)
    )


async def test_uploads_are_limited_per_hour_across_both_gateways(limited: Limited) -> None:
    user, token = await limited.sign_up()
    answers = [
        await upload(limited.gateways[n % 2], user.user_id, token, SMALL) for n in range(UPLOADS_PER_ACCOUNT + 1)
    ]
    assert [a.status_code for a in answers] == [200] * UPLOADS_PER_ACCOUNT + [429], [a.text for a in answers]
    assert_throttled(answers[-1], UPLOADS_PER_ACCOUNT)


async def test_the_daily_byte_quota_refuses_before_storing_anything(limited: Limited) -> None:
    user, token = await limited.sign_up()
    first, second = limited.gateways
    assert (await upload(first, user.user_id, token, BIG)).status_code == 200
    refused = await upload(second, user.user_id, token, BIG)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Limit"] == str(BYTES_PER_DAY)
    assert "bytes of photos uploaded" in refused.json()["message"]
    listed = await first.get(f"/v1/users/{user.user_id}/photos", headers=from_address(new_address(), token))
    assert len(listed.json()["photos"]) == 1  # the refused upload stored nothing
    # The refused bytes were given back: what is left of the quota still takes a small photo.
    assert (await upload(first, user.user_id, token, SMALL)).status_code == 200


async def test_counters_down_lets_likes_through_and_refuses_sign_in(limited: Limited) -> None:
    """NATS holds the counters: while it is away ordinary calls go on (fail open) and sign-in is refused with a
    retryable 503 (fail closed); when it is back, so are the limits. Last in the module: it stops NATS."""
    photo_id = await limited.photo()
    user, token = await limited.sign_up()
    limited.mesh.stop_nats()
    try:
        liked = await limited.gateways[0].put(
            f"/v1/photos/{photo_id}/likes/{user.user_id}", headers=from_address(new_address(), token)
        )
        assert liked.status_code == 200, liked.text
        assert "RateLimit-Limit" not in liked.headers
        refused = await sign_in(limited.gateways[1], user.username, DEFAULT_PASSWORD, new_address())
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) > 0
    finally:
        limited.mesh.start_nats()

    async def signs_in() -> None:
        response = await sign_in(limited.gateways[1], user.username, DEFAULT_PASSWORD, new_address())
        assert response.status_code == 200, response.text

    await eventually(signs_in, timeout=30, interval=0.2)
