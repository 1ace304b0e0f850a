"""Transactional outbox: events are written with the change they describe, then relayed.

A service's store calls `enqueue` inside the same write transaction as the entity. The relay
publishes pending rows to JetStream with Nats-Msg-Id = event id and marks them sent only after the
stream acks. A NATS outage delays events; it never loses them (the relay waits for the connection quietly: the
event bus logs the outage). A crash between the ack and the mark re-publishes the row, and the
stream's duplicate window drops the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from services.runtime import metrics, tracing
from services.runtime.events import EventBus, NatsUnavailable, first_of, message_id, subject_for
from services.runtime.sqlite import Database

log = logging.getLogger("shutter.outbox")

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
ALTER TABLE outbox ADD COLUMN trace_context TEXT;
"""

SENT_RETENTION_SECONDS = 3600.0


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    msg_id: str
    subject: str
    payload: bytes
    created_at: float  # seconds since the epoch: when the change and its event were written
    trace_context: str | None = None  # the writing request's W3C trace context (services.runtime.tracing)


class OutboxStore(Protocol):
    """What the relay needs from a backend's outbox table."""

    async def pending(self, limit: int) -> list[PendingEvent]: ...

    async def mark_sent(self, seqs: list[int]) -> None: ...

    async def prune(self, sent_before: float) -> None: ...


def enqueue(conn: sqlite3.Connection, event: Message) -> None:
    """Add `event` to the outbox inside the caller's open write transaction (once: a retried
    write that enqueues the same event again leaves one row, as on CQL)."""
    conn.execute(
        "INSERT INTO outbox (msg_id, subject, payload, created_at, trace_context) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (msg_id) DO NOTHING",
        (message_id(event), subject_for(event), event.SerializeToString(), time.time(), tracing.outbox_context()),
    )


class SqliteOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def pending(self, limit: int) -> list[PendingEvent]:
        def query(conn: sqlite3.Connection) -> list[PendingEvent]:
            rows = conn.execute(
                "SELECT seq, msg_id, subject, payload, created_at, trace_context FROM outbox"
                " WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
            return [PendingEvent(*row) for row in rows]

        return await self._db.read(query)

    async def mark_sent(self, seqs: list[int]) -> None:
        now = time.time()
        await self._db.write(
            lambda conn: conn.executemany("UPDATE outbox SET sent_at = ? WHERE seq = ?", [(now, s) for s in seqs])
        )

    async def prune(self, sent_before: float) -> None:
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", (sent_before,))
        )


class OutboxRelay:
    """Background task: pending outbox rows → JetStream, in order, until each is acked."""

    def __init__(self, store: OutboxStore, bus: EventBus, batch: int = 256, idle_poll_seconds: float = 1.0) -> None:
        self._store = store
        self._bus = bus
        self._batch = batch
        self._idle_poll_seconds = idle_poll_seconds  # commits wake the relay; polling catches the rest
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Give the relay a moment to flush what is pending; the rest goes out on next start."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._task is not None:
            try:
                async with asyncio.timeout(3):
                    await self._task
            except TimeoutError:
                self._task.cancel()

    async def _run(self) -> None:
        backoff = 0.1
        last_prune = 0.0
        failing = False
        # Events wait in the outbox until NATS is there; meanwhile the backlog's metrics keep up with it.
        ready = asyncio.ensure_future(first_of(self._bus.ready(), self._stopped.wait()))
        while not ready.done():
            try:
                _note_backlog(await self._store.pending(self._batch))
            except Exception as exc:  # the store's own outage; the relay itself waits for NATS either way
                log.debug("outbox backlog unreadable", extra={"error": repr(exc)[:300]})
            await asyncio.wait({ready}, timeout=self._idle_poll_seconds)
        if self._stopping:
            return
        while True:
            self._wake.clear()
            try:
                sent = await self.flush()
                backoff = 0.1
                failing = False
            except Exception as exc:
                # Once per spell of failures, and not at all while NATS is down (the bus says so once).
                if not failing and not isinstance(exc, NatsUnavailable) and self._bus.connected:
                    log.warning("relay publish failed; will retry", extra={"error": repr(exc)[:300]})
                failing = True
                if self._stopping:
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if self._stopping:
                return
            now = time.time()
            if now - last_prune > 60:
                last_prune = now
                try:
                    await self._store.prune(now - SENT_RETENTION_SECONDS)
                except Exception as exc:  # pruning is housekeeping: it must never stop the relay
                    log.warning("outbox prune failed; will retry", extra={"error": repr(exc)})
            if sent < self._batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_poll_seconds):
                        await self._wake.wait()

    async def flush(self) -> int:
        """Publish one batch; returns how many were sent."""
        pending = await self._store.pending(self._batch)
        sent: list[int] = []
        try:
            for event in pending:
                with tracing.publishing(event.subject, event.trace_context) as headers:
                    await self._bus.publish(event.subject, event.payload, event.msg_id, headers=headers)
                sent.append(event.seq)
        finally:
            _note_backlog(pending[len(sent) :])  # what is left of this read (newer rows show at the next)
            if sent:
                await self._store.mark_sent(sent)
        return len(sent)


def _note_backlog(waiting: list[PendingEvent]) -> None:
    """The outbox metrics: unsent rows as last read (at most a batch) and the oldest one's time."""
    metrics.OUTBOX.unsent = len(waiting)
    metrics.OUTBOX.oldest_created_at = waiting[0].created_at if waiting else None
