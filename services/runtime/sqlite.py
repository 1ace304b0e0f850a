"""The embedded store base: one SQLite database per service, in WAL mode, off the event loop.

Writes go through one writer connection on its own thread (SQLite allows one writer anyway);
reads use a second connection on another thread, so reads never wait behind an fsync.
`synchronous=FULL` makes every committed transaction durable before `write` returns.

Schemas are versioned, forward-only steps (SqliteSchema; the rules are in docs/storage/README.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from services.runtime import errors
from services.runtime.metrics import call_site, observe_store

T = TypeVar("T")

log = logging.getLogger("shutter.sqlite")

# SQLite's primary result codes (extended codes keep them in their low byte) and what they mean to a caller.
_FULL = 13  # "database or disk is full"
_UNUSABLE = frozenset({8, 10, 11, 14, 26})  # READONLY, IOERR, CORRUPT, CANTOPEN, NOTADB: the file, not the request
_CONTENDED = frozenset({5, 6})  # BUSY, LOCKED: another writer held on past busy_timeout


def _classify(exc: BaseException, where: str) -> errors.Answer | None:
    """SQLite's faults, registered with the runtime's error table when this backend is loaded."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    fields = {"sqlite_error": getattr(exc, "sqlite_errorname", None)}
    if code & 0xFF == _FULL:
        return errors.out_of_space(exc, **fields)
    if code & 0xFF in _UNUSABLE:
        return errors.storage_unusable(exc, **fields)
    if code & 0xFF in _CONTENDED:
        return errors.outage("the database", exc)
    return None


errors.register(sqlite3.Error, _classify)

_ADD_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+\S+\s+ADD\s", re.IGNORECASE)


@dataclass(frozen=True)
class SqliteSchema:
    """A service's tables as numbered steps: step n (from 1) is a script applied once, in its own
    transaction, and `PRAGMA user_version` records the last one applied. Add a step to change the
    schema; never edit one that has shipped.

    `runtime_tables`: the runtime's tables in this database (outbox, tombstones), created if missing
    before the steps run, so a step may move data into them.
    """

    steps: tuple[str, ...]
    runtime_tables: str = ""


class Database:
    def __init__(self, path: Path, schema: SqliteSchema | str) -> None:
        self.path = path
        # A plain script is a one-step schema.
        self._schema = schema if isinstance(schema, SqliteSchema) else SqliteSchema((schema,))
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        # Used on the event loop itself, for lookups by key (`lookup`).
        self._looker: sqlite3.Connection | None = None
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-w-{path.stem}")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-r-{path.stem}")
        self._commit_listeners: list[Callable[[], None]] = []

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._writer = await loop.run_in_executor(self._write_thread, self._open_writer)
        self._reader = await loop.run_in_executor(self._read_thread, self._connect)
        self._looker = self._connect()

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            await loop.run_in_executor(self._write_thread, self._writer.close)
        if self._reader is not None:
            await loop.run_in_executor(self._read_thread, self._reader.close)
        if self._looker is not None:
            self._looker.close()
        self._write_thread.shutdown()
        self._read_thread.shutdown()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        _into_wal(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            migrate(conn, self._schema, self.path.name)
        except BaseException:
            conn.close()
            raise
        return conn

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Called on the event loop after every committed write (the outbox relay wakes on it)."""
        self._commit_listeners.append(listener)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` against the read connection (a consistent snapshot per statement)."""
        assert self._reader is not None, "database not started"
        reader = self._reader
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._read_thread, work, reader)
        finally:
            observe_store("sqlite", call_site(work), time.perf_counter() - started)

    async def lookup(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the event loop, on a connection of its own: for a lookup by key that is one or two
        statements whatever the batch (a view's photos, like summaries, comment counts: `IN (…)` or a join on
        the keys). Such a lookup takes tens of microseconds; sending it to the read thread and back costs more
        CPU than that, and those batches are what every view waits on. Work that runs a statement per key (a
        page of comments per photo, a relationship per pair) or scans blocks the loop for milliseconds under
        load, and belongs in `read` (measured: per-pair relationship lookups on the loop doubled the follow
        service's CPU per view and let its queue run away)."""
        assert self._looker is not None, "database not started"
        started = time.perf_counter()
        try:
            return work(self._looker)
        finally:
            observe_store("sqlite", call_site(work), time.perf_counter() - started)

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one IMMEDIATE transaction: all of it commits, durably, or none of it."""
        assert self._writer is not None, "database not started"
        writer = self._writer

        def transaction() -> T:
            return _in_transaction(writer, work)

        # The caller's context goes with the work to the writer thread: the outbox row takes the trace from it.
        context = contextvars.copy_context()
        started = time.perf_counter()
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._write_thread, context.run, transaction)
        finally:
            observe_store("sqlite", call_site(work), time.perf_counter() - started)
        for listener in self._commit_listeners:
            listener()
        return result


def _into_wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """Switch the file to WAL. Replicas sharing a new file (SHUTTER_REPLICAS) start together, and the switch
    needs the file to itself: SQLite answers "database is locked" at once rather than waiting its busy
    timeout, so wait here, as the busy timeout would."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def migrate(conn: sqlite3.Connection, schema: SqliteSchema, name: str = "database") -> int:
    """Bring the database to the schema's last step; returns the version it is at.

    A database without a version (made before versioning) starts at step 1: steps are written so
    that re-applying one to such a database is harmless (CREATE … IF NOT EXISTS; an ADD COLUMN whose
    column exists counts as applied). A database newer than the code is refused: this code cannot
    know what the later steps changed.
    """
    if schema.runtime_tables:
        # Re-run on every start; they change the way steps do, additively (an ALTER … ADD appended).
        _in_transaction(conn, lambda c: _run_script(c, schema.runtime_tables))
    target = len(schema.steps)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > target:
        raise SystemExit(f"{name} is at schema version {version}; this code knows only {target} steps")
    for number in range(version + 1, target + 1):
        _in_transaction(conn, lambda c, n=number: _apply(c, schema.steps[n - 1], n))
        log.info("schema step applied", extra={"database": name, "version": number})
    return target


def _apply(conn: sqlite3.Connection, script: str, number: int) -> None:
    # Read again under the write lock: replicas sharing the file (one machine) start together, and another
    # may have applied this step since the version was first read.
    if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
        return
    _run_script(conn, script)
    conn.execute(f"PRAGMA user_version = {int(number)}")


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Each statement of `script`; an ADD COLUMN whose column exists counts as applied."""
    for statement in statements(script):
        try:
            conn.execute(statement)
        except sqlite3.OperationalError as exc:
            if _ADD_COLUMN.match(statement) and "duplicate column name" in str(exc):
                continue
            raise


def statements(script: str) -> Iterator[str]:
    """The statements of a script, one at a time (a trigger's body stays whole)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip().rstrip(";").strip():
                yield pending.strip()
            pending = ""
    if pending.rstrip(";").strip():
        raise ValueError(f"incomplete SQL statement in schema step: {pending.strip()[:80]!r}")


def _in_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        # SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR, …); a second
        # ROLLBACK would fail and hide the error that matters.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
