"""User store conformance: the same assertions on SQLite and on CQL, through the UserStore Protocol.

The CQL-only tests at the end cover what only a wide-column store can get wrong: a sign-up that died
between claiming its username and writing its profile, and writes that land after a delete.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from services.runtime.cql import WRITE_DURABLE, CqlDatabase, Query
from services.runtime.events import message_id, new_meta
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OutboxStore, SqliteOutbox
from services.runtime.outbox_cql import CqlOutbox
from services.user import cql
from services.user.cql import CqlUserStore
from services.user.rules import username_key
from services.user.sqlite import SqliteUserStore
from services.user.store import STORAGE, AvatarImage, Credentials, ProfileChange, UsernameTaken, UserRecord, UserStore
from shutter.events.v1 import events_pb2
from tests.conformance.conftest import Databases

ids = IdGenerator(91)


@dataclass
class Users:
    store: UserStore
    outbox: OutboxStore


@pytest.fixture
async def users(backend: str, databases: Databases) -> Users:
    if backend == "sqlite":
        database = await databases.sqlite(STORAGE)
        return Users(SqliteUserStore(database), SqliteOutbox(database))
    database = await databases.cql(STORAGE, service="user")
    outbox = CqlOutbox(database)
    await outbox.start()
    return Users(CqlUserStore(database), outbox)


def new_user(username: str, display_name: str = "Display", bio: str = "") -> UserRecord:
    return UserRecord(ids.next_id(), username, display_name, bio, int(time.time() * 1000))


def deleted(user_id: int) -> events_pb2.UserDeleted:
    return events_pb2.UserDeleted(meta=new_meta(ids, "user"), user_id=user_id)


async def test_a_new_account_is_found_by_id_and_by_username_in_any_case(users: Users) -> None:
    alice = new_user("Alice.Liddell", "Alice", "down the hole")
    await users.store.create(alice, "hash-1")

    assert await users.store.get(alice.user_id) == alice
    assert await users.store.get_by_username(username_key("aLICE.lIDDELL")) == alice
    assert await users.store.credentials(username_key("ALICE.LIDDELL")) == Credentials(alice.user_id, "hash-1")
    assert await users.store.username_taken(username_key("alice.liddell"))
    assert not await users.store.username_taken(username_key("bob"))
    assert await users.store.get(ids.next_id()) is None
    assert await users.store.get_by_username("nobody") is None
    assert await users.store.credentials("nobody") is None
    assert await users.outbox.pending(10) == []  # sign-up emits no event


async def test_a_username_taken_in_another_case_is_refused_and_the_holder_kept(users: Users) -> None:
    first = new_user("Mallory")
    await users.store.create(first, "hash-first")

    with pytest.raises(UsernameTaken):
        await users.store.create(new_user("mALLORY", "Impostor"), "hash-second")

    assert await users.store.get_by_username("mallory") == first
    assert await users.store.credentials("mallory") == Credentials(first.user_id, "hash-first")


async def test_racing_sign_ups_for_one_name_leave_exactly_one_account(users: Users) -> None:
    contenders = [new_user(name) for name in ("racer", "Racer", "RACER", "rAcEr", "racer")]

    results = await asyncio.gather(*(users.store.create(u, "h") for u in contenders), return_exceptions=True)

    winners = [u for u, result in zip(contenders, results, strict=True) if result is None]
    assert len(winners) == 1
    assert all(isinstance(r, UsernameTaken) for r in results if r is not None)
    assert await users.store.get_by_username("racer") == winners[0]
    assert await users.store.get_many([u.user_id for u in contenders]) == {winners[0].user_id: winners[0]}


async def test_get_many_returns_the_known_ids_only(users: Users) -> None:
    known = [new_user(f"many_{i}") for i in range(5)]
    for user in known:
        await users.store.create(user, "h")
    unknown = [ids.next_id(), ids.next_id()]

    found = await users.store.get_many([*unknown, *(u.user_id for u in known)])

    assert found == {u.user_id: u for u in known}
    assert await users.store.get_many([]) == {}


async def test_update_overwrites_only_the_given_fields(users: Users) -> None:
    user = new_user("updater", "Old Name", "old bio")
    await users.store.create(user, "h")

    renamed = await users.store.update(user.user_id, ProfileChange(display_name="New Name"))
    assert renamed == UserRecord(user.user_id, "updater", "New Name", "old bio", user.created_at_ms)
    rebio = await users.store.update(user.user_id, ProfileChange(bio=""))
    assert rebio == UserRecord(user.user_id, "updater", "New Name", "", user.created_at_ms)
    assert await users.store.get(user.user_id) == rebio
    assert await users.store.update(ids.next_id(), ProfileChange(display_name="Ghost")) is None


async def test_a_new_password_hash_replaces_the_old_one_for_its_owner_only(users: Users) -> None:
    user = new_user("rehash")
    await users.store.create(user, "old-hash")

    await users.store.set_password_hash("rehash", ids.next_id(), "someone-elses-hash")
    assert await users.store.credentials("rehash") == Credentials(user.user_id, "old-hash")
    await users.store.set_password_hash("rehash", user.user_id, "new-hash")
    assert await users.store.credentials("rehash") == Credentials(user.user_id, "new-hash")


async def test_delete_removes_the_account_frees_the_name_and_emits_one_event(users: Users) -> None:
    user = new_user("Leaving")
    await users.store.create(user, "h")
    event = deleted(user.user_id)

    assert await users.store.delete(user.user_id, event)
    assert not await users.store.delete(user.user_id, deleted(user.user_id))  # again: nothing, no event

    assert [p.msg_id for p in await users.outbox.pending(10)] == [message_id(event)]
    assert await users.store.get(user.user_id) is None
    assert await users.store.get_by_username("leaving") is None
    assert await users.store.credentials("leaving") is None
    assert not await users.store.username_taken("leaving")
    successor = new_user("LEAVING")
    await users.store.create(successor, "h2")
    assert await users.store.get_by_username("leaving") == successor


# -- CQL only: crashes between writes, writes that land after a delete -----------------------------


@pytest.fixture
async def cql_users(databases: Databases) -> tuple[CqlUserStore, CqlDatabase]:
    database = await databases.cql(STORAGE, service="user")
    return CqlUserStore(database), database


async def _claim_only(database: CqlDatabase, user: UserRecord, password_hash: str) -> None:
    """What a sign-up that died right after winning its username leaves behind."""
    profile = (user.user_id, user.username, user.display_name, user.bio, user.created_at_ms)
    await database.execute(cql.CLAIM, (username_key(user.username), password_hash, *profile))


async def test_cql_a_sign_up_that_died_after_its_claim_is_completed_by_the_next_reader(
    cql_users: tuple[CqlUserStore, CqlDatabase],
) -> None:
    store, database = cql_users
    orphan = new_user("Orphan", "Half Made", "bio")
    await _claim_only(database, orphan, "orphan-hash")
    assert await store.get(orphan.user_id) is None  # the profile row was never written

    with pytest.raises(UsernameTaken):  # the account exists: its name stays taken...
        await store.create(new_user("orphan"), "h")
    assert await store.get(orphan.user_id) == orphan  # ...and its profile was rolled forward

    other = new_user("Orphan2")
    await _claim_only(database, other, "other-hash")
    assert await store.credentials("orphan2") == Credentials(other.user_id, "other-hash")  # sign-in completes it
    assert await store.get(other.user_id) == other


async def test_cql_a_late_first_write_cannot_resurrect_a_deleted_account(
    cql_users: tuple[CqlUserStore, CqlDatabase],
) -> None:
    store, database = cql_users
    user = new_user("Shortlived")
    await store.create(user, "h")
    assert await store.delete(user.user_id, deleted(user.user_id))

    # A roll-forward (or the original write, replayed) that read the claim before the delete lands now.
    params = (user.user_id, user.username, user.display_name, user.bio, user.created_at_ms)
    await database.execute(cql.INSERT_USER, (*params, user.created_at_ms * 1000))

    assert await store.get(user.user_id) is None
    assert await store.get_many([user.user_id]) == {}


async def test_cql_leftover_cells_after_a_delete_are_not_an_account(
    cql_users: tuple[CqlUserStore, CqlDatabase],
) -> None:
    store, database = cql_users
    user = new_user("Leftover")
    await store.create(user, "h")
    assert await store.delete(user.user_id, deleted(user.user_id))

    # An update and a rehash that read the account just before the delete write just after it.
    await database.execute(cql.SET_BIO, ("late bio", user.user_id))
    await database.execute(
        Query("UPDATE users_by_username SET password_hash = ? WHERE username_key = ?", WRITE_DURABLE),
        ("late-hash", "leftover"),
    )

    assert await store.get(user.user_id) is None
    assert await store.update(user.user_id, ProfileChange(bio="x")) is None
    assert not await store.username_taken("leftover")
    assert await store.credentials("leftover") is None
    successor = new_user("leftover")
    await store.create(successor, "new-hash")  # the ownerless claim is taken over
    assert await store.credentials("leftover") == Credentials(successor.user_id, "new-hash")


# Profile pictures: renditions by size, one version per user read in batches, gone with the account.


def renditions(tag: bytes) -> dict[int, AvatarImage]:
    return {
        320: AvatarImage("image/jpeg", tag + b"-large", "aa" * 32),
        150: AvatarImage("image/jpeg", tag + b"-s", "bb" * 32),
    }


async def test_avatars_by_size_with_versions_in_batches(users: Users) -> None:
    ada, bob, cy = new_user("ada_avatar"), new_user("bob_avatar"), new_user("cy_avatar")
    for user in (ada, bob, cy):
        await users.store.create(user, "hash")

    assert await users.store.set_avatar(ada.user_id, 11, renditions(b"first")) is True
    assert await users.store.set_avatar(bob.user_id, 12, renditions(b"bob")) is True
    assert await users.store.set_avatar(ada.user_id, 13, renditions(b"second")) is True  # replaced whole

    assert await users.store.avatar(ada.user_id, 320) == AvatarImage("image/jpeg", b"second-large", "aa" * 32)
    assert await users.store.avatar(ada.user_id, 150) == AvatarImage("image/jpeg", b"second-s", "bb" * 32)
    assert await users.store.avatar(ada.user_id, 64) is None
    assert await users.store.avatar(cy.user_id, 320) is None
    assert await users.store.avatar_versions([ada.user_id, bob.user_id, cy.user_id, 999]) == {
        ada.user_id: 13,
        bob.user_id: 12,
    }
    assert await users.store.avatar_versions([]) == {}


async def test_no_avatar_without_an_account_and_none_after_it_goes(users: Users) -> None:
    ghost, dan = new_user("ghost_avatar"), new_user("dan_avatar")
    await users.store.create(dan, "hash")
    assert await users.store.set_avatar(ghost.user_id, 1, renditions(b"g")) is False
    assert await users.store.avatar(ghost.user_id, 320) is None
    await users.store.set_avatar(dan.user_id, 2, renditions(b"d"))

    assert await users.store.delete(dan.user_id, deleted(dan.user_id)) is True

    assert await users.store.avatar(dan.user_id, 320) is None
    assert await users.store.avatar_versions([dan.user_id]) == {}


# Finding people by name prefix (services.user.names): case and accents aside, each person once, paged.


async def all_found(users: Users, prefix: str, page: int) -> list[int]:
    found: list[int] = []
    after = None
    while matches := await users.store.search_names(prefix, after, page):
        assert len(matches) <= page
        found.extend(user_id for _, user_id in matches)
        after = matches[-1]
    return found


async def test_people_are_found_by_name_prefix_once_each_in_name_order(users: Users) -> None:
    elodie = new_user("elodie_b", "Élodie Brun")
    eli = new_user("eli.m", "Eli Marsh")
    brun = new_user("brunhilde", "Hilde")
    other = new_user("zed", "Zed")
    for user in (elodie, eli, brun, other):
        await users.store.create(user, "hash")

    assert await all_found(users, "el", 10) == [eli.user_id, elodie.user_id]  # "eli" < "eli.m" < "elodie"
    for page in (1, 2):
        assert await all_found(users, "el", page) == [eli.user_id, elodie.user_id]
    assert await all_found(users, "bru", 10) == [elodie.user_id, brun.user_id]  # a name's word "brun" < "brunhilde"
    assert await all_found(users, "elodie br", 10) == [elodie.user_id]  # the whole name
    assert await all_found(users, "qq", 10) == []

    await users.store.update(elodie.user_id, ProfileChange(display_name="Lo Durand"))
    assert await all_found(users, "bru", 10) == [brun.user_id]  # the old name is gone
    assert await all_found(users, "du", 10) == [elodie.user_id]
    assert await all_found(users, "el", 10) == [eli.user_id, elodie.user_id]  # still by username
    await users.store.delete(eli.user_id, deleted(eli.user_id))
    assert await all_found(users, "el", 10) == [elodie.user_id]
