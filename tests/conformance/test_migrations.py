"""Versioned, forward-only schemas on both backends, tested by upgrading databases that hold data.

SQLite records the last step in `PRAGMA user_version`; CQL in the keyspace's `schema_version`, under
a lock so replicas starting together apply each step once. The photo store's upgrade is the real
case: step 1 is its schema as of f676c60, step 2 the ALTER that added `request_fingerprint`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra.cluster import Cluster, Session

from services.feed.store import STORAGE as FEED_STORAGE
from services.like.cql import CqlLikeStore
from services.like.sqlite import SqliteLikeStore
from services.like.store import STORAGE as LIKE_STORAGE
from services.like.store import PhotoGone
from services.photo import cql as photo_cql
from services.photo.cql import CqlPhotoStore
from services.photo.sqlite import SqlitePhotoStore
from services.photo.store import STORAGE as PHOTO_STORAGE
from services.photo.store import BlobInfo, KeyedUpload, KeyReused, PhotoRecord, PhotoStore, photo_values
from services.runtime.config import Settings
from services.runtime.cql import CqlDatabase, CqlSchema, create_keyspace
from services.runtime.events import new_meta
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OUTBOX_SCHEMA, SqliteOutbox
from services.runtime.outbox_cql import OUTBOX_TABLES
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import RETENTION_MS, Kind
from shutter.events.v1 import events_pb2
from tests.conformance.conftest import CqlAdmin, Databases, tombstoned
from tests.support.cassandra import CassandraNode

ids = IdGenerator(95)

# -- SQLite --------------------------------------------------------------------------------------

ITEMS = "CREATE TABLE IF NOT EXISTS items (item_id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
ADD_COLOUR = "ALTER TABLE items ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey'"
COUNT_ITEMS = """
CREATE TABLE IF NOT EXISTS item_count (n INTEGER NOT NULL);
INSERT INTO item_count (n) SELECT count(*) FROM items;
CREATE TRIGGER IF NOT EXISTS item_added AFTER INSERT ON items BEGIN
    UPDATE item_count SET n = n + 1;
END;
"""


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


async def opened(path: Path, schema: SqliteSchema) -> Database:
    database = Database(path, schema)
    await database.start()
    return database


async def test_sqlite_steps_run_once_in_order_on_a_database_with_data(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    first = await opened(path, SqliteSchema((ITEMS,)))
    await first.write(lambda conn: conn.execute("INSERT INTO items (item_id, name) VALUES (1, 'kept')"))
    await first.stop()
    assert user_version(path) == 1

    upgraded = await opened(path, SqliteSchema((ITEMS, ADD_COLOUR, COUNT_ITEMS)))
    await upgraded.write(lambda conn: conn.execute("INSERT INTO items (item_id, name) VALUES (2, 'new')"))
    rows = await upgraded.read(lambda conn: conn.execute("SELECT item_id, name, colour FROM items").fetchall())
    assert rows == [(1, "kept", "grey"), (2, "new", "grey")]
    await upgraded.stop()
    assert user_version(path) == 3

    again = await opened(path, SqliteSchema((ITEMS, ADD_COLOUR, COUNT_ITEMS)))  # nothing to do: no step reruns
    counts = await again.read(lambda conn: conn.execute("SELECT n FROM item_count").fetchall())
    await again.stop()
    assert counts == [(2,)]  # one row (the step ran once), and the trigger in it works


async def test_sqlite_replicas_sharing_one_file_apply_each_step_once(tmp_path: Path) -> None:
    """Replicas on one machine (SHUTTER_REPLICAS) share the service's database and start together: a step
    that is not idempotent (it inserts) must still run once."""
    once = "INSERT INTO items (name) VALUES ('once');"
    schema = SqliteSchema((ITEMS, once, COUNT_ITEMS))
    for round_ in range(5):  # racing starts; one lucky round is not the point
        path = tmp_path / f"items-{round_}.db"
        replicas = await asyncio.gather(*(opened(path, schema) for _ in range(4)))
        names = await replicas[0].read(lambda conn: conn.execute("SELECT name FROM items").fetchall())
        counts = await replicas[0].read(lambda conn: conn.execute("SELECT n FROM item_count").fetchall())
        for replica in replicas:
            await replica.stop()
        assert (names, counts, user_version(path)) == ([("once",)], [(1,)], 3)


async def test_sqlite_a_failing_step_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    await (await opened(path, SqliteSchema((ITEMS,)))).stop()
    broken = "CREATE TABLE half (x INTEGER); INSERT INTO missing_table VALUES (1);"

    with pytest.raises(sqlite3.OperationalError, match="missing_table"):
        await opened(path, SqliteSchema((ITEMS, broken)))

    assert user_version(path) == 1
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"items"}


async def test_sqlite_refuses_a_database_newer_than_the_code(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    await (await opened(path, SqliteSchema((ITEMS, ADD_COLOUR)))).stop()
    with pytest.raises(SystemExit, match="version 2"):
        await opened(path, SqliteSchema((ITEMS,)))


async def test_sqlite_a_database_from_before_versioning_keeps_the_columns_it_has(tmp_path: Path) -> None:
    """Made by unversioned code whose CREATE already had the column a later step adds."""
    path = tmp_path / "items.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(ITEMS.replace("NOT NULL)", "NOT NULL, colour TEXT NOT NULL DEFAULT 'red')"))
        conn.execute("INSERT INTO items (item_id, name) VALUES (1, 'old')")

    database = await opened(path, SqliteSchema((ITEMS, ADD_COLOUR)))
    rows = await database.read(lambda conn: conn.execute("SELECT item_id, colour FROM items").fetchall())
    await database.stop()
    assert rows == [(1, "red")]
    assert user_version(path) == 2


# The photo store's SQLite schema at f676c60, before idempotency keys remembered their request.
PHOTO_SCHEMA_F676C60 = """
CREATE TABLE IF NOT EXISTS photos (
    photo_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    location TEXT NOT NULL,
    time_stamp_ms INTEGER NOT NULL,
    tags TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    original_type TEXT NOT NULL,
    original_size INTEGER NOT NULL,
    original_sha256 TEXT NOT NULL,
    display_type TEXT NOT NULL,
    display_size INTEGER NOT NULL,
    display_sha256 TEXT NOT NULL,
    thumbnail_type TEXT NOT NULL,
    thumbnail_size INTEGER NOT NULL,
    thumbnail_sha256 TEXT NOT NULL,
    idempotency_key TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS photos_by_user (
    user_id INTEGER NOT NULL,
    photo_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, photo_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upload_keys (
    user_id INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    photo_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
) WITHOUT ROWID;
"""


# A photo row's columns as f676c60 had them (PHOTO_COLUMNS begins with them; later steps add the rest).
F676C60_PHOTO_COLUMNS = 19


def photo(user_id: int, key: str) -> PhotoRecord:
    return PhotoRecord(
        photo_id=ids.next_id(), user_id=user_id, title="t", location="l", time_stamp_ms=1, tags=("a",),
        created_at_ms=int(time.time() * 1000), width=3, height=4, original=BlobInfo("image/jpeg", 10, "ab" * 32),
        display=BlobInfo("image/jpeg", 5, "cd" * 32), thumbnail=BlobInfo("image/webp", 2, "ef" * 32),
        idempotency_key=key,
    )  # fmt: skip


def posted(record: PhotoRecord) -> events_pb2.PhotoPosted:
    return events_pb2.PhotoPosted(meta=new_meta(ids, "photo"), photo_id=record.photo_id, user_id=record.user_id)


async def check_upgraded_photo_store(store: PhotoStore, earlier: PhotoRecord) -> None:
    """What an upgraded photo store must still do with a photo written before the upgrade."""
    assert await store.get(earlier.photo_id) == earlier
    assert await store.by_idempotency_key(earlier.user_id, "key-1") == KeyedUpload(earlier, "")
    # A retry of the old upload still answers with its photo: an old claim has no fingerprint, so any
    # request under the key counts as the one that claimed it (as before the column existed).
    assert await store.create(photo(earlier.user_id, "key-1"), posted(earlier), "fp-retry") == (earlier, False)
    # New claims remember their request.
    fresh = photo(earlier.user_id, "key-2")
    assert await store.create(fresh, posted(fresh), "fp-a") == (fresh, True)
    assert await store.create(photo(earlier.user_id, "key-2"), posted(fresh), "fp-a") == (fresh, False)
    with pytest.raises(KeyReused):
        await store.create(photo(earlier.user_id, "key-2"), posted(fresh), "fp-b")
    assert [p.photo_id for p in await store.list_by_user(earlier.user_id, None, 10)][-1] == earlier.photo_id


async def test_sqlite_a_photo_database_written_by_f676c60_upgrades_and_keeps_answering_retries(
    tmp_path: Path,
) -> None:
    path = tmp_path / "photo.db"
    earlier = photo(7, "key-1")
    with sqlite3.connect(path) as conn:
        conn.executescript(PHOTO_SCHEMA_F676C60 + OUTBOX_SCHEMA)
        conn.execute(
            f"INSERT INTO photos VALUES ({', '.join('?' * F676C60_PHOTO_COLUMNS)})",
            photo_values(earlier, json.dumps)[:F676C60_PHOTO_COLUMNS],
        )
        conn.execute("INSERT INTO photos_by_user VALUES (?, ?)", (7, earlier.photo_id))
        conn.execute("INSERT INTO upload_keys VALUES (?, ?, ?)", (7, "key-1", earlier.photo_id))

    database = await opened(path, PHOTO_STORAGE.sqlite_schema())
    try:
        await check_upgraded_photo_store(SqlitePhotoStore(database), earlier)
    finally:
        await database.stop()
    assert user_version(path) == len(PHOTO_STORAGE.sqlite_schema().steps)


async def test_sqlite_a_photo_database_from_before_versioning_with_the_fingerprint_column_upgrades(
    tmp_path: Path,
) -> None:
    """Made by the code between c55f5fc and versioning: CREATE already had request_fingerprint."""
    path = tmp_path / "photo.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            PHOTO_SCHEMA_F676C60.replace(
                "    photo_id INTEGER NOT NULL,\n    PRIMARY KEY (user_id, idempotency_key)",
                "    photo_id INTEGER NOT NULL,\n    request_fingerprint TEXT NOT NULL DEFAULT '',\n"
                "    PRIMARY KEY (user_id, idempotency_key)",
            )
            + OUTBOX_SCHEMA
        )
    database = await opened(path, PHOTO_STORAGE.sqlite_schema())
    try:
        store = SqlitePhotoStore(database)
        fresh = photo(8, "key-9")
        assert await store.create(fresh, posted(fresh), "fp-a") == (fresh, True)
        assert await store.by_idempotency_key(8, "key-9") == KeyedUpload(fresh, "fp-a")
    finally:
        await database.stop()
    assert user_version(path) == len(PHOTO_STORAGE.sqlite_schema().steps)


async def test_sqlite_a_like_database_keeps_its_tombstones_through_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "like.db"
    legacy = LIKE_STORAGE.sqlite_schema().steps[0]  # the schema from before the runtime's tombstones
    with sqlite3.connect(path) as conn:
        conn.executescript(legacy + OUTBOX_SCHEMA)
        conn.execute("INSERT INTO deleted_photos (photo_id) VALUES (5)")

    database = await opened(path, LIKE_STORAGE.sqlite_schema())
    try:
        event = events_pb2.LikeChanged(meta=new_meta(ids, "like"), photo_id=5, user_id=1, liked=True)
        with pytest.raises(PhotoGone):
            await SqliteLikeStore(database).like(5, 1, 1000, event)
        tables = await database.read(
            lambda conn: {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        )
    finally:
        await database.stop()
    assert "deleted_photos" not in tables


async def test_sqlite_a_feed_database_keeps_its_tombstones_and_their_age(tmp_path: Path) -> None:
    path = tmp_path / "feed.db"
    now_ms = int(time.time() * 1000)
    with sqlite3.connect(path) as conn:
        conn.executescript(FEED_STORAGE.sqlite_schema().steps[0])
        conn.execute("INSERT INTO deleted_photos VALUES (1, ?), (2, ?)", (now_ms - 1000, now_ms - RETENTION_MS - 1000))
        conn.execute("INSERT INTO deleted_users VALUES (3, ?)", (now_ms - 1000,))

    database = await opened(path, FEED_STORAGE.sqlite_schema())
    try:
        assert await tombstoned(database, Kind.PHOTO, 1)
        assert not await tombstoned(database, Kind.PHOTO, 2)  # older than the retention: expired
        assert await tombstoned(database, Kind.USER, 3)
    finally:
        await database.stop()


# -- CQL -----------------------------------------------------------------------------------------


@pytest.fixture
def fresh_prefix(cql_admin: CqlAdmin) -> Iterator[str]:
    """A keyspace prefix no other test uses; its keyspaces are dropped afterwards."""
    prefix = f"mig{uuid.uuid4().hex[:10]}"
    yield prefix
    rows = cql_admin.session.execute("SELECT keyspace_name FROM system_schema.keyspaces")
    for row in rows:
        if row.keyspace_name.startswith(prefix):
            cql_admin.session.execute(f"DROP KEYSPACE {row.keyspace_name}", timeout=60)


@pytest.fixture
def legacy_session(cassandra: CassandraNode) -> Iterator[Session]:
    """A session of its own, for writing keyspaces the way code from before versioning did."""
    cluster = Cluster(["127.0.0.1"], port=cassandra.native_port)
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


CQL_ITEMS = "CREATE TABLE IF NOT EXISTS items (item_id bigint PRIMARY KEY, name text)"
CQL_ADD_COLOUR = "ALTER TABLE items ADD colour text"


class Backfill:
    """A data step that counts its runs (steps with data must run once, whoever starts first)."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, session: Session) -> None:
        self.runs += 1
        for row in session.execute("SELECT item_id FROM items"):
            session.execute("UPDATE items SET colour = 'grey' WHERE item_id = %s", (row.item_id,))


async def started(settings: Settings, schema: CqlSchema, service: str = "items") -> CqlDatabase:
    database = CqlDatabase(settings, service, schema)
    await database.start()
    return database


def version_of(session: Session, keyspace: str) -> int:
    return session.execute(f"SELECT version FROM {keyspace}.schema_version WHERE name = 'schema'").one().version


async def test_cql_steps_run_once_in_order_on_a_keyspace_with_data(
    databases: Databases, fresh_prefix: str, cql_admin: CqlAdmin
) -> None:
    settings = databases.cql_settings(fresh_prefix)
    first = await started(settings, CqlSchema((CQL_ITEMS,)))
    first_keyspace = first.keyspace
    await first.stop()
    cql_admin.session.execute(f"INSERT INTO {first_keyspace}.items (item_id, name) VALUES (1, 'kept')")
    assert version_of(cql_admin.session, first_keyspace) == 1

    backfill = Backfill()
    schema = CqlSchema((CQL_ITEMS, CQL_ADD_COLOUR, backfill))
    await (await started(settings, schema)).stop()
    await (await started(settings, schema)).stop()  # current: nothing reruns

    row = cql_admin.session.execute(f"SELECT name, colour FROM {first_keyspace}.items WHERE item_id = 1").one()
    assert (row.name, row.colour) == ("kept", "grey")
    assert backfill.runs == 1
    assert version_of(cql_admin.session, first_keyspace) == 3


async def test_cql_replicas_starting_together_apply_each_step_once(
    databases: Databases, fresh_prefix: str, cql_admin: CqlAdmin
) -> None:
    settings = databases.cql_settings(fresh_prefix)
    backfill = Backfill()
    schema = CqlSchema((CQL_ITEMS, CQL_ADD_COLOUR, backfill))
    replicas = [CqlDatabase(settings, "items", schema) for _ in range(3)]

    await asyncio.gather(*(replica.start() for replica in replicas))
    for replica in replicas:
        await replica.stop()

    assert backfill.runs == 1
    assert version_of(cql_admin.session, replicas[0].keyspace) == 3
    assert cql_admin.session.execute(f"SELECT owner FROM {replicas[0].keyspace}.schema_lock").all() == []


async def test_cql_a_keyspace_newer_than_the_code_still_starts(databases: Databases, fresh_prefix: str) -> None:
    """Mid-upgrade an old replica restarts on a keyspace the new code migrated: steps are additive."""
    settings = databases.cql_settings(fresh_prefix)
    await (await started(settings, CqlSchema((CQL_ITEMS, CQL_ADD_COLOUR)))).stop()
    old = await started(settings, CqlSchema((CQL_ITEMS,)))
    await old.stop()


async def test_cql_a_keyspace_from_before_versioning_keeps_the_columns_it_has(
    databases: Databases, fresh_prefix: str, legacy_session: Session
) -> None:
    """Unversioned code ran every statement on every start; its ALTER already applied."""
    settings = databases.cql_settings(fresh_prefix)
    keyspace = f"{fresh_prefix}_items"
    create_keyspace(legacy_session, keyspace, settings.cql_replication)
    legacy_session.set_keyspace(keyspace)
    for statement in (CQL_ITEMS, CQL_ADD_COLOUR):
        legacy_session.execute(statement)
    legacy_session.execute("INSERT INTO items (item_id, name, colour) VALUES (1, 'old', 'red')")

    await (await started(settings, CqlSchema((CQL_ITEMS, CQL_ADD_COLOUR)))).stop()

    assert version_of(legacy_session, keyspace) == 2
    assert legacy_session.execute("SELECT colour FROM items WHERE item_id = 1").one().colour == "red"


async def test_cql_a_photo_keyspace_written_by_f676c60_upgrades_and_keeps_answering_retries(
    databases: Databases, fresh_prefix: str, legacy_session: Session
) -> None:
    settings = databases.cql_settings(fresh_prefix)
    keyspace = f"{fresh_prefix}_photo"
    # f676c60 applied today's steps but the ALTER, with no version, on every start.
    create_keyspace(legacy_session, keyspace, settings.cql_replication)
    legacy_session.set_keyspace(keyspace)
    for statement in photo_cql.SCHEMA.steps:
        assert isinstance(statement, str)
        if not statement.startswith("ALTER"):
            legacy_session.execute(statement)
    earlier = photo(7, "key-1")
    bucket = photo_cql.bucket_of(earlier.photo_id)
    # The row as that code wrote it: the columns it had (later steps add the rest).
    values = photo_values(earlier, list)[:F676C60_PHOTO_COLUMNS]
    columns = ", ".join(photo_cql.PHOTO_COLUMNS.split(", ")[:F676C60_PHOTO_COLUMNS])
    markers = ", ".join(["%s"] * len(values))
    legacy_session.execute(f"INSERT INTO photos ({columns}) VALUES ({markers})", values)
    legacy_session.execute(f"INSERT INTO photos_by_user (bucket, {columns}) VALUES (%s, {markers})", (bucket, *values))
    legacy_session.execute("INSERT INTO photo_buckets_by_user (user_id, bucket) VALUES (%s, %s)", (7, bucket))
    legacy_session.execute(
        "INSERT INTO upload_keys (user_id, idempotency_key, photo_id, claimed_at_ms) VALUES (%s, %s, %s, %s)",
        (7, "key-1", earlier.photo_id, earlier.created_at_ms),
    )

    database = await started(settings, PHOTO_STORAGE.cql_schema(), service="photo")
    try:
        await check_upgraded_photo_store(CqlPhotoStore(database), earlier)
    finally:
        await database.stop()
    assert version_of(legacy_session, keyspace) == len(PHOTO_STORAGE.cql_schema().steps)


async def test_cql_a_like_keyspace_keeps_its_tombstones_through_the_upgrade(
    databases: Databases, fresh_prefix: str, legacy_session: Session
) -> None:
    settings = databases.cql_settings(fresh_prefix)
    keyspace = f"{fresh_prefix}_like"
    create_keyspace(legacy_session, keyspace, settings.cql_replication)
    legacy_session.set_keyspace(keyspace)
    for statement in LIKE_STORAGE.cql_schema().steps:
        if isinstance(statement, str):  # what the code from before the runtime's tombstones ran
            legacy_session.execute(statement)
    legacy_session.execute("INSERT INTO deleted_photos (photo_id) VALUES (5)")

    database = await started(settings, LIKE_STORAGE.cql_schema(), service="like")
    try:
        assert await tombstoned(database, Kind.PHOTO, 5)
        event = events_pb2.LikeChanged(meta=new_meta(ids, "like"), photo_id=5, user_id=1, liked=True)
        with pytest.raises(PhotoGone):
            await CqlLikeStore(database).like(5, 1, 1000, event)
    finally:
        await database.stop()


async def test_cql_a_feed_keyspace_keeps_its_tombstones_and_their_age(
    databases: Databases, fresh_prefix: str, legacy_session: Session
) -> None:
    settings = databases.cql_settings(fresh_prefix)
    keyspace = f"{fresh_prefix}_feed"
    create_keyspace(legacy_session, keyspace, settings.cql_replication)
    legacy_session.set_keyspace(keyspace)
    for statement in FEED_STORAGE.cql_schema().steps:
        if isinstance(statement, str):
            legacy_session.execute(statement)
    now_ms = int(time.time() * 1000)
    insert = "INSERT INTO deleted_photos (photo_id, deleted_ms) VALUES (%s, %s)"
    legacy_session.execute(insert, (1, now_ms - 1000))
    legacy_session.execute(insert, (2, now_ms - RETENTION_MS - 1000))
    legacy_session.execute("INSERT INTO deleted_users (user_id, deleted_ms) VALUES (%s, %s)", (3, now_ms - 1000))

    database = await started(settings, FEED_STORAGE.cql_schema(), service="feed")
    try:
        assert await tombstoned(database, Kind.PHOTO, 1)
        assert not await tombstoned(database, Kind.PHOTO, 2)  # older than the retention: expired
        assert await tombstoned(database, Kind.USER, 3)
    finally:
        await database.stop()


# -- the runtime's own tables change the same way: the outbox's trace_context column ------------------

OUTBOX_BEFORE_TRACING = OUTBOX_SCHEMA.replace("ALTER TABLE outbox ADD COLUMN trace_context TEXT;\n", "")


async def test_sqlite_an_outbox_from_before_tracing_gets_its_column_and_keeps_its_pending_events(
    tmp_path: Path,
) -> None:
    assert OUTBOX_BEFORE_TRACING != OUTBOX_SCHEMA
    path = tmp_path / "items.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OUTBOX_BEFORE_TRACING)
        conn.execute(
            "INSERT INTO outbox (msg_id, subject, payload, created_at) VALUES ('old-1', 'shutter.events.x', x'00', 1.0)"
        )

    for _ in range(2):  # the runtime tables are re-applied on every start: the second is a no-op
        database = await opened(path, SqliteSchema((ITEMS,), OUTBOX_SCHEMA))
        [pending] = await SqliteOutbox(database).pending(10)
        await database.stop()
        assert (pending.msg_id, pending.created_at, pending.trace_context) == ("old-1", 1.0, None)
    with sqlite3.connect(path) as conn:
        assert "trace_context" in {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}


async def test_cql_an_outbox_from_before_tracing_gets_its_column_at_the_next_start(
    databases: Databases, fresh_prefix: str, cql_admin: CqlAdmin
) -> None:
    settings = databases.cql_settings(fresh_prefix)
    before = tuple(step for step in OUTBOX_TABLES if "trace_context" not in step)
    assert len(before) == len(OUTBOX_TABLES) - 1
    old = await started(settings, CqlSchema((CQL_ITEMS,), before))
    keyspace = old.keyspace
    await old.stop()

    def columns() -> set[str]:
        rows = cql_admin.session.execute(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s AND table_name = 'outbox'",
            (keyspace,),
        )
        return {row.column_name for row in rows}

    assert "trace_context" not in columns()
    # The schema version is current, so only the runtime-table check can notice the missing column.
    upgraded = await started(settings, CqlSchema((CQL_ITEMS,), OUTBOX_TABLES))
    await upgraded.stop()
    assert "trace_context" in columns()
    assert version_of(cql_admin.session, keyspace) == 1
