"""CQL (ScyllaDB) implementation of the user store.

Tables, query-first:
- users(user_id) → the profile, for GetUser / BatchGetUsers / sign-in after the credentials check;
- users_by_username(username_key) → the account's claim on its case-folded username: owner id and
  password hash (sign-in reads one partition), plus the sign-up profile (see "Sign-up" below).

Sign-up. Uniqueness needs agreement, so the username is claimed first with a lightweight transaction
(`INSERT … IF NOT EXISTS`, Paxos at LOCAL_SERIAL); only the winner then writes its `users` row. The
claim is the commit point: it carries everything the `users` row holds at sign-up, so if the process
dies between the two writes the account is not lost and the name not blocked — whoever next reads the
claim (another sign-up for the name, a sign-in, a lookup by name) finds the `users` row missing and
rolls it forward from the claim. Every write of that first row, the original and any roll-forward,
uses the same write timestamp (the sign-up time), so they are idempotent, and a later delete (a newer
timestamp) shadows a roll-forward that lands after it: a deleted account cannot come back.

Rows are "live" only with a username: `update` is an upsert in CQL, and one racing a delete can leave
bare display_name/bio cells behind; every read ignores such a row. Likewise a claim without an owner
(a password rehash racing a delete leaves a bare password_hash cell) counts as free, and a sign-up
takes it over with an LWT conditioned on the owner being null.

Delete removes the profile and the claim, and enqueues UserDeleted, in one logged batch
(services.runtime.outbox_cql.write_with_events): all or nothing, even if the process dies.

Consistency, per statement (levels in services.runtime.cql):
- the claim and the password rehash: LWT, serial LOCAL_SERIAL (uniqueness within the local DC stays
  available when another DC is unreachable), commit at LOCAL_QUORUM;
- every account write: LOCAL_QUORUM, survives the loss of a replica;
- reads that decide sign-in, sign-up or ownership (credentials, lookups by name, get, the delete's
  read): LOCAL_QUORUM, so they see every acknowledged write;
- batch profile reads (feeds, fan-out hydration): LOCAL_ONE, then LOCAL_QUORUM for the ids it missed,
  so a user who signed up a moment ago is never reported missing (e.g. when following someone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.runtime.concurrency import bounded_gather
from services.runtime.cql import READ_FAST, READ_STRONG, SERIAL, WRITE_DURABLE, CqlDatabase, CqlSchema, Query, applied
from services.runtime.outbox_cql import write_with_events
from services.user import names, rules
from services.user.store import AvatarImage, Credentials, ProfileChange, UsernameTaken, UserRecord
from shutter.events.v1 import events_pb2

SCHEMA = CqlSchema(
    (
        """CREATE TABLE IF NOT EXISTS users (
            user_id bigint PRIMARY KEY,
            username text,
            display_name text,
            bio text,
            created_at_ms bigint
        )""",
        """CREATE TABLE IF NOT EXISTS users_by_username (
            username_key text PRIMARY KEY,
            user_id bigint,
            password_hash text,
            username text,
            display_name text,
            bio text,
            created_at_ms bigint
        )""",
        # Profile pictures: square renditions by size, and the version clients put in their URLs.
        """CREATE TABLE IF NOT EXISTS avatars (
            user_id bigint,
            size int,
            content_type text,
            data blob,
            sha256 text,
            version bigint static,
            PRIMARY KEY ((user_id), size)
        )""",
        # Finding people by name (services.user.names): partitioned by a term's first two characters,
        # each row carrying all of the user's terms so a prefix lists each user once.
        """CREATE TABLE IF NOT EXISTS user_names (
            bucket text,
            term text,
            user_id bigint,
            terms list<text>,
            PRIMARY KEY ((bucket), term, user_id)
        )""",
    ),
)

_USER = "user_id, username, display_name, bio, created_at_ms"
# One partition per user: its renditions as rows, the version static (one read answers a batch's URL).
DELETE_AVATARS = Query("DELETE FROM avatars WHERE user_id = ?", WRITE_DURABLE)
INSERT_AVATAR = Query(
    "INSERT INTO avatars (user_id, size, content_type, data, sha256, version) VALUES (?, ?, ?, ?, ?, ?)", WRITE_DURABLE
)
READ_AVATAR = Query("SELECT content_type, data, sha256 FROM avatars WHERE user_id = ? AND size = ?", READ_FAST)
READ_AVATAR_VERSION = Query("SELECT version FROM avatars WHERE user_id = ? LIMIT 1", READ_FAST)
INSERT_NAME = Query("INSERT INTO user_names (bucket, term, user_id, terms) VALUES (?, ?, ?, ?)", WRITE_DURABLE)
DELETE_NAME = Query("DELETE FROM user_names WHERE bucket = ? AND term = ? AND user_id = ?", WRITE_DURABLE)
SEARCH_NAMES = Query(
    "SELECT term, user_id, terms FROM user_names WHERE bucket = ? AND (term, user_id) > (?, ?) AND (term) < (?)"
    " LIMIT ?",
    READ_FAST,
)
# Reads of many users' avatar versions at once (BatchGetUsers).
_AVATAR_READS = 64
_CLAIM = f"username_key, password_hash, {_USER}"

CLAIM = Query(
    f"INSERT INTO users_by_username ({_CLAIM}) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
TAKE_OVER_OWNERLESS_CLAIM = Query(
    "UPDATE users_by_username SET password_hash = ?, user_id = ?, username = ?, display_name = ?, bio = ?,"
    " created_at_ms = ? WHERE username_key = ? IF user_id = null",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
READ_CLAIM = Query(f"SELECT {_CLAIM} FROM users_by_username WHERE username_key = ?", READ_STRONG)
# The first write of a profile, at the sign-up time: the same timestamp however often it is rolled forward.
INSERT_USER = Query(f"INSERT INTO users ({_USER}) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?", WRITE_DURABLE)
READ_USER = Query(f"SELECT {_USER} FROM users WHERE user_id = ?", READ_STRONG)
READ_USER_FAST = Query(f"SELECT {_USER} FROM users WHERE user_id = ?", READ_FAST)
SET_DISPLAY_NAME = Query("UPDATE users SET display_name = ? WHERE user_id = ?", WRITE_DURABLE)
SET_BIO = Query("UPDATE users SET bio = ? WHERE user_id = ?", WRITE_DURABLE)
# Conditional so that a rehash racing a delete cannot recreate the claim it just lost.
SET_PASSWORD_HASH = Query(
    "UPDATE users_by_username SET password_hash = ? WHERE username_key = ? IF user_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
DELETE_USER = Query("DELETE FROM users WHERE user_id = ?", WRITE_DURABLE)
DELETE_CLAIM = Query("DELETE FROM users_by_username WHERE username_key = ?", WRITE_DURABLE)

# Concurrent single-partition reads for BatchGetUsers (token-aware, unlike one multi-partition IN).
_READ_CONCURRENCY = 64


def _user(row: Any) -> UserRecord | None:
    """The profile in a `users` row, or None for no row or one left without a username (not live)."""
    if row is None or row.username is None:
        return None
    return UserRecord(row.user_id, row.username, row.display_name or "", row.bio or "", row.created_at_ms)


def _first_write_timestamp(created_at_ms: int) -> int:
    return created_at_ms * 1000  # CQL write timestamps are microseconds


class CqlUserStore:
    def __init__(self, db: CqlDatabase) -> None:
        self._db = db

    async def create(self, user: UserRecord, password_hash: str) -> None:
        key = rules.username_key(user.username)
        profile = (user.user_id, user.username, user.display_name, user.bio, user.created_at_ms)
        rows = await self._db.execute(CLAIM, (key, password_hash, *profile))
        if not applied(rows):
            holder = rows[0].user_id
            if holder is None:  # an ownerless leftover: free, but only one sign-up may take it
                rows = await self._db.execute(TAKE_OVER_OWNERLESS_CLAIM, (password_hash, *profile, key))
            if not applied(rows) and holder != user.user_id:  # our own claim if a retried attempt won
                await self._settle(await self._claim(key))
                raise UsernameTaken(user.username)
        await self._write_first_profile(user)

    async def username_taken(self, username_key: str) -> bool:
        claim = await self._claim(username_key)
        await self._settle(claim)
        return claim is not None

    async def get(self, user_id: int) -> UserRecord | None:
        rows = await self._db.execute(READ_USER, (user_id,))
        return _user(rows[0] if rows else None)

    async def get_by_username(self, username_key: str) -> UserRecord | None:
        return await self._settle(await self._claim(username_key))

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, UserRecord]:
        found = await self._read_many(READ_USER_FAST, user_ids)
        missed = [user_id for user_id in user_ids if user_id not in found]
        if missed:  # a replica may not have a brand-new account yet: ask a quorum before saying "no such user"
            found.update(await self._read_many(READ_USER, missed))
        return found

    async def credentials(self, username_key: str) -> Credentials | None:
        claim = await self._claim(username_key)
        if await self._settle(claim) is None:
            return None
        return Credentials(claim.user_id, claim.password_hash)

    async def set_password_hash(self, username_key: str, user_id: int, password_hash: str) -> None:
        await self._db.execute(SET_PASSWORD_HASH, (password_hash, username_key, user_id))

    async def update(self, user_id: int, change: ProfileChange) -> UserRecord | None:
        user = await self.get(user_id)
        if user is None:
            return None
        if change.display_name is not None:
            await self._db.execute(SET_DISPLAY_NAME, (change.display_name, user_id))
            new_terms = names.name_terms(user.username, change.display_name)
            await self._index_names(user_id, names.name_terms(user.username, user.display_name), new_terms)
            user = UserRecord(user.user_id, user.username, change.display_name, user.bio, user.created_at_ms)
        if change.bio is not None:
            await self._db.execute(SET_BIO, (change.bio, user_id))
            user = UserRecord(user.user_id, user.username, user.display_name, change.bio, user.created_at_ms)
        return user

    async def delete(self, user_id: int, event: events_pb2.UserDeleted) -> bool:
        user = await self.get(user_id)
        if user is None:
            return False
        writes = [
            (DELETE_USER, (user_id,)),
            (DELETE_CLAIM, (rules.username_key(user.username),)),
            (DELETE_AVATARS, (user_id,)),
            *(
                (DELETE_NAME, (names.bucket(term), term, user_id))
                for term in names.name_terms(user.username, user.display_name)
            ),
        ]
        await write_with_events(self._db, writes, [event])
        return True

    async def _claim(self, username_key: str) -> Any:
        """The claim on a username, or None when it is free (no row, or a row without an owner)."""
        rows = await self._db.execute(READ_CLAIM, (username_key,))
        return rows[0] if rows and rows[0].user_id is not None else None

    async def _settle(self, claim: Any) -> UserRecord | None:
        """The claimed account's profile, rolling the `users` row forward from the claim if a sign-up
        died between claiming the name and writing the profile."""
        if claim is None:
            return None
        user = await self.get(claim.user_id)
        if user is None:
            user = UserRecord(claim.user_id, claim.username, claim.display_name, claim.bio, claim.created_at_ms)
            await self._write_first_profile(user)
            user = await self.get(claim.user_id)  # None if the account was deleted meanwhile (its delete wins)
        return user

    async def _index_names(self, user_id: int, old: list[str], new: list[str]) -> None:
        """Move the user's name rows from the `old` terms to the `new` ones, in one batch."""
        gone = [(DELETE_NAME, (names.bucket(term), term, user_id)) for term in old if term not in new]
        put = [(INSERT_NAME, (names.bucket(term), term, user_id, new)) for term in new]
        await self._db.batch([*gone, *put])

    async def search_names(self, prefix: str, after: tuple[str, int] | None, limit: int) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        cursor = after if after is not None and after[0] >= prefix else (prefix, -1)
        while len(found) < limit:
            rows = await self._db.execute(SEARCH_NAMES, (names.bucket(prefix), *cursor, prefix + names.TOP, limit * 2))
            for row in rows:
                if names.first_match(list(row.terms or [row.term]), prefix) == row.term:
                    found.append((row.term, row.user_id))
            if len(rows) < limit * 2:
                break
            cursor = (rows[-1].term, rows[-1].user_id)
        return found[:limit]

    async def _write_first_profile(self, user: UserRecord) -> None:
        await self._index_names(user.user_id, [], names.name_terms(user.username, user.display_name))
        await self._db.execute(
            INSERT_USER,
            (
                user.user_id,
                user.username,
                user.display_name,
                user.bio,
                user.created_at_ms,
                _first_write_timestamp(user.created_at_ms),
            ),
        )

    async def _read_many(self, query: Query, user_ids: Sequence[int]) -> dict[int, UserRecord]:
        async def read(user_id: int) -> UserRecord | None:
            rows = await self._db.execute(query, (user_id,))
            return _user(rows[0] if rows else None)

        users = await bounded_gather(user_ids, read, _READ_CONCURRENCY)
        return {user.user_id: user for user in users if user is not None}

    async def set_avatar(self, user_id: int, version: int, renditions: dict[int, AvatarImage]) -> bool:
        """The renditions and the version in one partition: one batch, applied together. The rows are
        overwritten in place (the sizes are fixed), so no delete races the insert."""
        if await self.get(user_id) is None:
            return False
        await self._db.batch(
            [
                (INSERT_AVATAR, (user_id, size, image.content_type, image.data, image.sha256, version))
                for size, image in renditions.items()
            ]
        )
        return True

    async def avatar(self, user_id: int, size: int) -> AvatarImage | None:
        rows = await self._db.execute(READ_AVATAR, (user_id, size))
        return AvatarImage(rows[0].content_type, bytes(rows[0].data), rows[0].sha256) if rows else None

    async def avatar_versions(self, user_ids: Sequence[int]) -> dict[int, int]:
        async def read(user_id: int) -> int | None:
            rows = await self._db.execute(READ_AVATAR_VERSION, (user_id,))
            return rows[0].version if rows and rows[0].version else None

        versions = await bounded_gather(list(user_ids), read, _AVATAR_READS)
        return {user_id: version for user_id, version in zip(user_ids, versions, strict=True) if version}
