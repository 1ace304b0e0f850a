"""The embedded store base: one SQLite database per service, in WAL mode, off the event loop.

Writes go through one writer connection on its own thread (SQLite allows one writer anyway);
reads use a second connection on another thread, so reads never wait behind an fsync.
`synchronous=FULL` makes every committed transaction durable before `write` returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Database:
    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-w-{path.stem}")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-r-{path.stem}")
        self._commit_listeners: list[Callable[[], None]] = []

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._writer = await loop.run_in_executor(self._write_thread, self._open_writer)
        self._reader = await loop.run_in_executor(self._read_thread, self._connect)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            await loop.run_in_executor(self._write_thread, self._writer.close)
        if self._reader is not None:
            await loop.run_in_executor(self._read_thread, self._reader.close)
        self._write_thread.shutdown()
        self._read_thread.shutdown()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.executescript(self._schema)
        return conn

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Called on the event loop after every committed write (the outbox relay wakes on it)."""
        self._commit_listeners.append(listener)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` against the read connection (a consistent snapshot per statement)."""
        assert self._reader is not None, "database not started"
        reader = self._reader
        return await asyncio.get_running_loop().run_in_executor(self._read_thread, work, reader)

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one IMMEDIATE transaction: all of it commits, durably, or none of it."""
        assert self._writer is not None, "database not started"
        writer = self._writer

        def transaction() -> T:
            writer.execute("BEGIN IMMEDIATE")
            try:
                result = work(writer)
            except BaseException:
                # SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR, …); a second
                # ROLLBACK would fail and hide the error that matters.
                if writer.in_transaction:
                    writer.execute("ROLLBACK")
                raise
            writer.execute("COMMIT")
            return result

        result = await asyncio.get_running_loop().run_in_executor(self._write_thread, transaction)
        for listener in self._commit_listeners:
            listener()
        return result
