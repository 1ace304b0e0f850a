"""UserService over real gRPC: sign-up, sign-in, profiles, tokens and who may change what."""

from __future__ import annotations

import asyncio
import time

import grpc
import jwt
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import AUTH_SECRET, Mesh, auth
from tests.support.privacy import block
from tests.support.rich_status import field_violations
from tests.support.users import DEFAULT_PASSWORD, SignedUp, sign_up, unique_username


def users(mesh: Mesh) -> user_pb2_grpc.UserServiceStub:
    return user_pb2_grpc.UserServiceStub(mesh.channel("user"))


async def test_sign_up_then_sign_in_issues_a_token_that_works(mesh: Mesh) -> None:
    username = unique_username("Alice")
    created = await users(mesh).CreateUser(
        user_pb2.CreateUserRequest(username=username, display_name="Alice A.", bio="hi", password="s3cret-pass"),
        timeout=30,
    )
    assert created.user.user_id > 0
    assert (created.user.username, created.user.display_name, created.user.bio) == (username, "Alice A.", "hi")
    assert abs(created.user.created_at.seconds - time.time()) < 60

    before = time.time()
    reply = await users(mesh).Authenticate(
        user_pb2.AuthenticateRequest(username=username.upper(), password="s3cret-pass"), timeout=30
    )
    assert reply.user == created.user
    assert before + 3600 - 5 <= reply.expires_at.seconds <= time.time() + 3600 + 5
    claims = jwt.decode(reply.access_token, AUTH_SECRET, algorithms=["HS256"], issuer="shutter")
    assert claims["sub"] == f"user:{created.user.user_id}"

    got = await users(mesh).GetUser(
        user_pb2.GetUserRequest(user_id=created.user.user_id), metadata=auth(reply.access_token), timeout=5
    )
    assert got.user == created.user
    by_name = await users(mesh).GetUserByUsername(
        user_pb2.GetUserByUsernameRequest(username=username.lower()), metadata=auth(reply.access_token), timeout=5
    )
    assert by_name.user == created.user


async def test_duplicate_usernames_are_refused_regardless_of_case(mesh: Mesh) -> None:
    first = await sign_up(mesh, unique_username("Dup"), sign_in=False)
    for taken in (first.username, first.username.upper(), first.username.lower()):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await users(mesh).CreateUser(
                user_pb2.CreateUserRequest(username=taken, display_name="x", password=DEFAULT_PASSWORD), timeout=30
            )
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    reply = await users(mesh).BatchGetUsers(
        user_pb2.BatchGetUsersRequest(user_ids=[first.user_id]), metadata=first.metadata, timeout=5
    )
    assert [u.username for u in reply.users] == [first.username]


@pytest.mark.parametrize(
    ("username", "password", "display_name", "bad_fields"),
    [
        ("", DEFAULT_PASSWORD, "", {"username"}),
        ("ab", DEFAULT_PASSWORD, "", {"username"}),
        ("a" * 31, DEFAULT_PASSWORD, "", {"username"}),
        ("has space", DEFAULT_PASSWORD, "", {"username"}),
        ("émile", DEFAULT_PASSWORD, "", {"username"}),
        ("semi;colon", DEFAULT_PASSWORD, "", {"username"}),
        ("VALID_name.1", "short", "", {"password"}),
        ("VALID_name.2", "", "", {"password"}),
        ("VALID_name.3", "x" * 1025, "", {"password"}),
        ("VALID_name.4", DEFAULT_PASSWORD, "n" * 65, {"display_name"}),
        ("VALID_name.5", DEFAULT_PASSWORD, "bell\a", {"display_name"}),
        ("no", "short", "n" * 65, {"username", "password", "display_name"}),
    ],
)
async def test_bad_sign_ups_name_every_bad_field_and_store_nothing(
    mesh: Mesh, username: str, password: str, display_name: str, bad_fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).CreateUser(
            user_pb2.CreateUserRequest(username=username, password=password, display_name=display_name), timeout=30
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == bad_fields
    if "username" not in bad_fields:
        reader = await sign_up(mesh, sign_in=False)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await users(mesh).GetUserByUsername(
                user_pb2.GetUserByUsernameRequest(username=username), metadata=reader.metadata, timeout=5
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_long_bio_is_refused_by_name(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).CreateUser(
            user_pb2.CreateUserRequest(username=unique_username(), password=DEFAULT_PASSWORD, bio="b" * 501),
            timeout=30,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"bio"}


async def test_wrong_username_and_wrong_password_get_the_same_answer(mesh: Mesh) -> None:
    alice = await sign_up(mesh, sign_in=False)
    answers = []
    for username, password in (
        (alice.username, "not-the-password"),
        (unique_username("nobody"), alice.password),
        (alice.username, alice.password + " "),
        ("x" * 70_000, alice.password),  # no valid username is this long; must not reach the store
        ("not a username!", alice.password),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await users(mesh).Authenticate(
                user_pb2.AuthenticateRequest(username=username, password=password), timeout=30
            )
        answers.append((caught.value.code(), caught.value.details()))
    assert answers == [(grpc.StatusCode.UNAUTHENTICATED, "wrong username or password")] * 5


async def test_sign_in_with_empty_fields_names_them(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).Authenticate(user_pb2.AuthenticateRequest(), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"username", "password"}


def _forged_tokens(user_id: int) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": "shutter", "sub": f"user:{user_id}", "iat": now, "exp": now + 600}
    genuine = jwt.encode(claims, AUTH_SECRET, algorithm="HS256")
    header, _, signature = genuine.split(".")
    other_claims = jwt.encode({**claims, "sub": "user:1"}, AUTH_SECRET, algorithm="HS256").split(".")[1]
    return {
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 60}, AUTH_SECRET, algorithm="HS256"),
        "wrong secret": jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "payload swapped": f"{header}.{other_claims}.{signature}",
        "wrong issuer": jwt.encode({**claims, "iss": "evil"}, AUTH_SECRET, algorithm="HS256"),
        "no expiry": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, AUTH_SECRET, algorithm="HS256"),
    }


async def test_expired_and_forged_tokens_are_refused_by_user_and_follow(mesh: Mesh) -> None:
    alice = await sign_up(mesh, sign_in=False)
    follow = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    for kind, token in _forged_tokens(alice.user_id).items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await users(mesh).GetUser(user_pb2.GetUserRequest(user_id=alice.user_id), metadata=auth(token), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, kind
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await follow.GetFollowCounts(
                follow_pb2.GetFollowCountsRequest(user_id=alice.user_id), metadata=auth(token), timeout=5
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, kind
    # The same claims, honestly signed, are accepted: the refusals above were about the forgery.
    await users(mesh).GetUser(user_pb2.GetUserRequest(user_id=alice.user_id), metadata=alice.metadata, timeout=5)


async def test_get_batch_and_unknown_ids(mesh: Mesh) -> None:
    alice = await sign_up(mesh, sign_in=False)
    bob = await sign_up(mesh, sign_in=False)
    reply = await users(mesh).BatchGetUsers(
        user_pb2.BatchGetUsersRequest(user_ids=[bob.user_id, 999, alice.user_id, bob.user_id]),
        metadata=alice.metadata,
        timeout=5,
    )
    assert [u.user_id for u in reply.users] == [bob.user_id, alice.user_id]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).GetUser(user_pb2.GetUserRequest(user_id=999), metadata=alice.metadata, timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    for bad in (user_pb2.BatchGetUsersRequest(user_ids=[0]), user_pb2.BatchGetUsersRequest(user_ids=[1] * 501)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await users(mesh).BatchGetUsers(bad, metadata=alice.metadata, timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) == {"user_ids"}


async def test_a_batch_and_search_leave_out_who_blocked_the_caller_and_blocking_back_still_works(mesh: Mesh) -> None:
    me = await sign_up(mesh, bio="my bio", sign_in=False)
    blocker = await sign_up(mesh, bio="their bio", sign_in=False)
    other = await sign_up(mesh, bio="a bio", sign_in=False)
    await block(mesh, blocker, me)

    async def batch(caller: SignedUp, *people: SignedUp) -> dict[int, user_pb2.User]:
        request = user_pb2.BatchGetUsersRequest(
            user_ids=[p.user_id for p in people], usernames=[p.username.upper() for p in people]
        )
        reply = await users(mesh).BatchGetUsers(request, metadata=caller.metadata, timeout=5)
        return {user.user_id: user for user in reply.users}

    # Asked for by id or by name, the blocker is not there for me, as GetUser says NOT_FOUND.
    assert set(await batch(me, blocker, other)) == {other.user_id}
    # The blocker still sees whom they blocked by name (their list of blocked accounts needs it), bio aside.
    seen = await batch(blocker, me, other)
    assert (seen[me.user_id].username, seen[me.user_id].bio) == (me.username, "")
    assert seen[other.user_id].bio == "a bio"
    # Nor does user search find them for me; they find me, by name only.
    search = users(mesh).SearchUsers
    mine = await search(user_pb2.SearchUsersRequest(query=blocker.username), metadata=me.metadata, timeout=5)
    assert list(mine.users) == []
    theirs = await search(user_pb2.SearchUsersRequest(query=me.username), metadata=blocker.metadata, timeout=5)
    assert [(u.user_id, u.bio) for u in theirs.users] == [(me.user_id, "")]
    # The follow service asks whether accounts exist as itself: I can block back, and still not follow.
    assert (await block(mesh, me, blocker)).created
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await me.follow(mesh, blocker)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_update_honours_the_mask_and_only_the_owner_may_update(mesh: Mesh) -> None:
    alice = await sign_up(mesh, display_name="Alice", bio="old bio", sign_in=False)
    mallory = await sign_up(mesh, sign_in=False)

    reply = await users(mesh).UpdateUser(
        user_pb2.UpdateUserRequest(
            user_id=alice.user_id, display_name="Ignored", bio="new bio", update_mask=FieldMask(paths=["bio"])
        ),
        metadata=alice.metadata,
        timeout=5,
    )
    assert (reply.user.display_name, reply.user.bio) == ("Alice", "new bio")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).UpdateUser(
            user_pb2.UpdateUserRequest(user_id=alice.user_id, display_name="pwned", bio="pwned"),
            metadata=mallory.metadata,
            timeout=5,
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).UpdateUser(
            user_pb2.UpdateUserRequest(user_id=alice.user_id, update_mask=FieldMask(paths=["username"])),
            metadata=alice.metadata,
            timeout=5,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"update_mask"}

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).UpdateUser(
            user_pb2.UpdateUserRequest(user_id=alice.user_id, display_name="x" * 65, bio="fine"),
            metadata=alice.metadata,
            timeout=5,
        )
    assert set(field_violations(caught.value)) == {"display_name"}

    # An empty mask means every updatable field.
    reply = await users(mesh).UpdateUser(
        user_pb2.UpdateUserRequest(user_id=alice.user_id, display_name="Alice B", bio=""),
        metadata=alice.metadata,
        timeout=5,
    )
    assert (reply.user.display_name, reply.user.bio) == ("Alice B", "")
    got = await users(mesh).GetUser(user_pb2.GetUserRequest(user_id=alice.user_id), metadata=alice.metadata, timeout=5)
    assert (got.user.display_name, got.user.bio, got.user.username) == ("Alice B", "", alice.username)


async def test_only_the_owner_may_delete_and_a_deleted_account_is_gone(mesh: Mesh) -> None:
    alice = await sign_up(mesh)
    mallory = await sign_up(mesh, sign_in=False)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).DeleteUser(user_pb2.DeleteUserRequest(user_id=alice.user_id), metadata=mallory.metadata)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    got = await users(mesh).GetUser(user_pb2.GetUserRequest(user_id=alice.user_id), metadata=mallory.metadata)
    assert got.user.username == alice.username

    await users(mesh).DeleteUser(user_pb2.DeleteUserRequest(user_id=alice.user_id), metadata=alice.metadata, timeout=5)

    # Alice's token is still validly signed, but there is no account behind it any more: NOT_FOUND from the
    # handler until the UserDeleted event reaches the runtime (milliseconds), then refused outright.
    for call in (
        users(mesh).GetUser(user_pb2.GetUserRequest(user_id=alice.user_id), metadata=alice.metadata, timeout=5),
        users(mesh).GetUserByUsername(
            user_pb2.GetUserByUsernameRequest(username=alice.username), metadata=alice.metadata, timeout=5
        ),
        users(mesh).UpdateUser(
            user_pb2.UpdateUserRequest(user_id=alice.user_id, bio="back"), metadata=alice.metadata, timeout=5
        ),
        users(mesh).DeleteUser(user_pb2.DeleteUserRequest(user_id=alice.user_id), metadata=alice.metadata, timeout=5),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED)
        if caught.value.code() == grpc.StatusCode.UNAUTHENTICATED:
            assert caught.value.details() == "account deleted"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await users(mesh).Authenticate(
            user_pb2.AuthenticateRequest(username=alice.username, password=alice.password), timeout=30
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # The username is free again, for a new account with a new id.
    again = await sign_up(mesh, alice.username, sign_in=False)
    assert again.user_id != alice.user_id


async def test_racing_sign_ups_for_one_username_leave_exactly_one_account(mesh: Mesh) -> None:
    base = unique_username("race")
    spellings = [base, base.upper(), base.lower(), base.capitalize()]
    results = await asyncio.gather(
        *(
            users(mesh).CreateUser(user_pb2.CreateUserRequest(username=name, password=DEFAULT_PASSWORD), timeout=30)
            for name in spellings
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, user_pb2.CreateUserResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert [e.code() for e in losers] == [grpc.StatusCode.ALREADY_EXISTS] * 3
    reader = await sign_up(mesh, sign_in=False)
    found = await users(mesh).GetUserByUsername(
        user_pb2.GetUserByUsernameRequest(username=base), metadata=reader.metadata, timeout=5
    )
    assert found.user == winners[0].user
