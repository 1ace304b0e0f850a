"""The transactional outbox on CQL: an entity change and its event in one LOGGED batch, then relayed.

CQL has no multi-partition transactions, and the entity and its outbox row live in different
partitions. A LOGGED batch is the tool for exactly this: the coordinator first writes the whole batch
to the batchlog on other replicas, then applies it; if the coordinator dies half-way, a batchlog
replica replays it. So either every statement is eventually applied or none is — atomicity. What it
does not give is isolation: a reader can see the entity before its outbox row exists, or the reverse,
for a few milliseconds. That is enough here because nobody reads the two together: readers of the
entity do not care about the outbox, and the relay only needs the event row to exist eventually
(it may even be published before a LOCAL_ONE reader sees the entity — consumers already tolerate
eventual consistency). The write is acknowledged at LOCAL_QUORUM, so neither half is lost once the
RPC has answered. Counter updates cannot join a logged batch, and a conditional (`IF …`) batch must
stay in one partition: do the LWT claim first, then the logged batch, and keep counters derived.

Table design. Pending rows are read in event-id order, and a queue in CQL must not become one hot,
ever-growing partition full of tombstones, so rows are partitioned by (shard, minute bucket):
- bucket = the minute of the event id (ids are time-ordered), so a partition stops growing after
  its minute, and a drained bucket is never read again — its tombstones are never scanned;
- shard = a hash of the event id into OUTBOX_SHARDS, so one minute's writes spread over
  OUTBOX_SHARDS partitions (replica sets) instead of one.
`mark_sent` deletes the rows. `outbox_cursor` remembers the oldest bucket that may still hold pending
rows; it moves past a bucket only once the bucket is empty and older than LATE_WRITE_GRACE_MS (a
batch retried by the driver or replayed from the batchlog can land a little after its id was made).
Re-enqueueing an event writes the same primary key: idempotent by msg_id.

Several replicas of a service each run a relay over the same outbox: they publish the same events
with the same Nats-Msg-Id, and JetStream's duplicate window drops the copies.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from google.protobuf.message import Message

from services.runtime import tracing
from services.runtime.cql import READ_STRONG, WRITE_DURABLE, CqlDatabase, Query
from services.runtime.cql_buckets import BucketCursor
from services.runtime.cql_buckets import shard_of as _shard
from services.runtime.events import message_id, subject_for
from services.runtime.ids import id_timestamp_ms
from services.runtime.outbox import PendingEvent

OUTBOX_SHARD_BITS = 4
OUTBOX_SHARDS = 1 << OUTBOX_SHARD_BITS
BUCKET_MS = 60_000
LATE_WRITE_GRACE_MS = 120_000
# An event older than this is refused: its row could land in a bucket the cursor has already passed.
# Well below the grace, which also covers the batch's own retries and batchlog replay.
MAX_EVENT_AGE_MS = 30_000

CURSOR = BucketCursor("outbox_cursor")
OUTBOX_TABLES = (
    # gc_grace_seconds = 3 h, the default hint window: a deleted row cannot come back from a replica that
    # missed the delete. Even if one did, it would sit in a bucket behind the cursor, never read again.
    """CREATE TABLE IF NOT EXISTS outbox (
        shard int,
        bucket bigint,
        seq bigint,
        msg_id text,
        subject text,
        payload blob,
        PRIMARY KEY ((shard, bucket), seq)
    ) WITH CLUSTERING ORDER BY (seq ASC) AND gc_grace_seconds = 10800""",
    CURSOR.ddl,
    # Added later (kept as a separate statement, like a step, so keyspaces made before it get it too).
    "ALTER TABLE outbox ADD trace_context text",
)

# Written with the entity at LOCAL_QUORUM (the batch's level); read at LOCAL_QUORUM so the relay sees
# every acknowledged event; deleted at LOCAL_QUORUM so a later read does not publish a row again.
INSERT = Query(
    "INSERT INTO outbox (shard, bucket, seq, msg_id, subject, payload, trace_context) VALUES (?, ?, ?, ?, ?, ?, ?)",
    WRITE_DURABLE,
)
SELECT_BUCKET = Query(
    "SELECT seq, msg_id, subject, payload, trace_context FROM outbox WHERE shard = ? AND bucket = ? LIMIT ?",
    READ_STRONG,
)
DELETE = Query("DELETE FROM outbox WHERE shard = ? AND bucket = ? AND seq = ?", WRITE_DURABLE)
CURSOR_NAME = "relay"


def shard_of(seq: int) -> int:
    return _shard(seq, OUTBOX_SHARD_BITS)


def bucket_of(seq: int) -> int:
    return id_timestamp_ms(seq) // BUCKET_MS


def outbox_row(event: Message) -> tuple[Query, tuple[Any, ...]]:
    """The outbox INSERT for `event`, to put in the same logged batch as the entity it describes."""
    seq = event.meta.event_id  # type: ignore[attr-defined]
    if seq <= 0:
        raise ValueError("event.meta.event_id must be set (services.runtime.events.new_meta)")
    if id_timestamp_ms(seq) < time.time() * 1000 - MAX_EVENT_AGE_MS:
        raise ValueError("event id too old for the outbox: make its meta with new_meta just before the write")
    return INSERT, (
        shard_of(seq),
        bucket_of(seq),
        seq,
        message_id(event),
        subject_for(event),
        event.SerializeToString(),
        tracing.outbox_context(),
    )


async def write_with_events(
    db: CqlDatabase, writes: Iterable[tuple[Query, Sequence[Any]]], events: Iterable[Message]
) -> None:
    """The CQL counterpart of `outbox.enqueue`: the entity's writes and their events, atomically.

    Returns once the batch is acknowledged at LOCAL_QUORUM; the relay is woken to publish at once.
    """
    await db.batch([*writes, *(outbox_row(event) for event in events)], consistency=WRITE_DURABLE)


class CqlOutbox:
    """The relay's view of the CQL outbox (services.runtime.outbox.OutboxStore)."""

    def __init__(self, db: CqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._cursor = 0

    @property
    def cursor(self) -> int:
        """The oldest bucket that may still hold pending rows."""
        return self._cursor

    async def start(self) -> None:
        """Create the cursor once (the first replica to start wins) and load it.

        Nothing can be in the outbox before the first relay starts (a service writes only once all its
        components have started), so the cursor may begin just behind the current bucket.
        """
        first = _current_bucket(self._clock() * 1000) - LATE_WRITE_GRACE_MS // BUCKET_MS - 1
        await CURSOR.init(self._db, CURSOR_NAME, first)
        self._cursor = await CURSOR.read(self._db, CURSOR_NAME)

    async def stop(self) -> None:
        """Nothing to release: the database component owns the connection."""

    async def pending(self, limit: int) -> list[PendingEvent]:
        """The oldest `limit` unsent events in id order: bucket by bucket, merging the shards."""
        now_ms = self._clock() * 1000
        found: list[PendingEvent] = []
        bucket = self._cursor
        while bucket <= _current_bucket(now_ms) and len(found) < limit:
            wanted = limit - len(found)
            shards = await asyncio.gather(
                *(self._db.execute(SELECT_BUCKET, (shard, bucket, wanted)) for shard in range(OUTBOX_SHARDS))
            )
            rows = sorted(itertools.chain.from_iterable(shards), key=lambda row: row.seq)[:wanted]
            found.extend(
                PendingEvent(
                    row.seq, row.msg_id, row.subject, row.payload, id_timestamp_ms(row.seq) / 1000, row.trace_context
                )
                for row in rows
            )
            if not rows and bucket == self._cursor and (bucket + 1) * BUCKET_MS <= now_ms - LATE_WRITE_GRACE_MS:
                await CURSOR.move(self._db, CURSOR_NAME, bucket + 1)
                self._cursor = bucket + 1
            bucket += 1
        return found

    async def mark_sent(self, seqs: list[int]) -> None:
        await asyncio.gather(*(self._db.execute(DELETE, (shard_of(s), bucket_of(s), s)) for s in seqs))

    async def prune(self, sent_before: float) -> None:
        """Nothing to prune: `mark_sent` deletes rows, and compaction drops their tombstones."""


def _current_bucket(now_ms: float) -> int:
    return int(now_ms) // BUCKET_MS
