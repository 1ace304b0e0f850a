"""The runtime's storage kit: one Storage declaration per service, opened by one helper; bounded
concurrency; the shard hash. (Databases themselves are exercised in tests/conformance.)"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.concurrency import bounded_gather
from services.runtime.config import Settings
from services.runtime.cql import CqlDatabase, CqlSchema
from services.runtime.cql_buckets import shard_of
from services.runtime.outbox import OutboxRelay
from services.runtime.outbox_cql import CqlOutbox
from services.runtime.server import Runtime
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.stores import Storage, open_store

STATEFUL = ("user", "follow", "photo", "like", "comment", "feed", "search")
ROOT = Path(__file__).resolve().parents[2]


def runtime(tmp_path: Path, store: str, name: str = "like") -> Runtime:
    env = {"SHUTTER_STORE": store, "SHUTTER_DATA_DIR": str(tmp_path), "SHUTTER_AUTH_SECRET": "s" * 40}
    return Runtime(name, Settings.from_env(env))


@pytest.mark.parametrize("name", STATEFUL)
def test_every_stateful_service_declares_its_storage_once(name: str) -> None:
    storage = importlib.import_module(f"services.{name}.store").STORAGE
    assert isinstance(storage, Storage)
    assert isinstance(storage.module("sqlite").SCHEMA, SqliteSchema)
    assert isinstance(storage.module("cql").SCHEMA, CqlSchema)
    assert storage.store_class("sqlite").__name__.startswith("Sqlite")
    assert storage.store_class("cql").__name__.startswith("Cql")


@pytest.mark.parametrize("backend", ["sqlite", "cql"])
def test_an_emitting_store_gets_its_database_then_outbox_then_relay(tmp_path: Path, backend: str) -> None:
    from services.like.store import STORAGE

    rt = runtime(tmp_path, backend)
    store = open_store(rt, STORAGE)

    assert type(store) is STORAGE.store_class(backend)
    kinds = [type(component) for component in rt.components]
    if backend == "sqlite":
        assert kinds.index(Database) < kinds.index(OutboxRelay)
    else:
        assert kinds.index(CqlDatabase) < kinds.index(CqlOutbox) < kinds.index(OutboxRelay)
        [database] = [c for c in rt.components if isinstance(c, CqlDatabase)]
        assert database.keyspace == "shutter_like"


def test_a_store_that_emits_nothing_gets_no_relay(tmp_path: Path) -> None:
    from services.search.store import STORAGE

    rt = runtime(tmp_path, "sqlite", "search")
    open_store(rt, STORAGE)
    assert [type(component) for component in rt.components] == [Database]


def test_declared_runtime_tables_go_with_the_schema() -> None:
    from services.feed.store import STORAGE as FEED
    from services.like.store import STORAGE as LIKE

    assert "deleted_ids" in LIKE.sqlite_schema().runtime_tables
    assert "outbox" in LIKE.sqlite_schema().runtime_tables
    assert "outbox" not in FEED.sqlite_schema().runtime_tables
    assert any("deleted_ids" in table for table in FEED.cql_schema().runtime_tables)
    assert not any("outbox" in table for table in FEED.cql_schema().runtime_tables)


def test_opening_a_sqlite_store_imports_no_service_cql_module(tmp_path: Path) -> None:
    """The backend's module is imported only when that backend is chosen: not a service's, not the runtime's
    CQL base, not the driver (the bootstrap and the event consumers import neither backend)."""
    script = f"""
import sys
from services.runtime.config import Settings
from services.runtime.server import Runtime
from services.runtime.stores import open_store
for name in {STATEFUL!r}:
    module = __import__(f"services.{{name}}.service", fromlist=["build"])
    runtime = Runtime(name, Settings.from_env({{
        "SHUTTER_STORE": "sqlite", "SHUTTER_DATA_DIR": {str(tmp_path)!r}, "SHUTTER_AUTH_SECRET": "s" * 40}}))
    module.build(runtime)
loaded = sorted(
    m for m in sys.modules
    if m == "cassandra" or m.startswith("services.") and m.split(".")[-1] in ("cql", "cql_blobs", "outbox_cql")
)
print(loaded)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_bounded_gather_keeps_order_and_the_limit() -> None:
    running = 0
    most = 0

    async def work(item: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running -= 1
        return item * 10

    assert await bounded_gather(range(20), work, 3) == [i * 10 for i in range(20)]
    assert most == 3


async def test_bounded_gather_raises_the_first_failure_itself() -> None:
    async def work(item: int) -> int:
        if item == 2:
            raise TimeoutError("a transient failure stays recognisable")
        return item

    with pytest.raises(TimeoutError, match="recognisable"):
        await bounded_gather([1, 2, 3], work, 2)


def test_shard_of_spreads_sequential_ids_over_every_shard() -> None:
    assert {shard_of(seq, 4) for seq in range(1 << 22, (1 << 22) + 256)} == set(range(16))
    assert shard_of(12345, 4) == ((12345 * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 60


async def test_a_lookup_runs_on_the_event_loop_and_sees_every_committed_write(tmp_path: Path) -> None:
    """`Database.lookup` has a connection of its own, used on the loop's thread: what a write committed is
    there for the next lookup (a like shows in the liker's next view), and a failed lookup raises as a read."""
    import sqlite3
    import threading

    db = Database(tmp_path / "lookups.db", "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    await db.start()
    try:
        threads: list[str] = []

        def value(conn: sqlite3.Connection) -> str | None:
            threads.append(threading.current_thread().name)
            row = conn.execute("SELECT v FROM kv WHERE k = ?", (1,)).fetchone()
            return row[0] if row else None

        assert await db.lookup(value) is None
        for text in ("first", "second"):
            await db.write(lambda conn, text=text: conn.execute("INSERT OR REPLACE INTO kv VALUES (1, ?)", (text,)))
            assert await db.lookup(value) == text
        assert set(threads) == {threading.current_thread().name}
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await db.lookup(lambda conn: conn.execute("SELECT * FROM missing").fetchall())
    finally:
        await db.stop()
