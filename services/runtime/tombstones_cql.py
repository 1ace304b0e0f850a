"""Tombstones on CQL (the rule and the SQLite side: tombstones.py).

One partition per mark, ((kind, id)), so a lookup of many ids is `id IN ?` over partitions of one
kind. Marks are written at LOCAL_QUORUM and read at LOCAL_QUORUM by default: a remover marks first
and then reads what to delete, a writer writes and then checks the marks, and R + W > RF makes one of
the two see the other. The table's default TTL drops a mark after RETENTION; reads also ignore marks
older than that by the injected clock, so expiry is the same on both backends (and testable).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement

from services.runtime.concurrency import bounded_gather
from services.runtime.cql import READ_FAST, READ_STRONG, WRITE_DURABLE, CqlDatabase, CqlStep, Query
from services.runtime.tombstones import RETENTION_SECONDS, Clock, Kind, horizon_ms

CQL_TABLE = f"""CREATE TABLE IF NOT EXISTS deleted_ids (
    kind text,
    id bigint,
    marked_ms bigint,
    PRIMARY KEY ((kind, id))
) WITH default_time_to_live = {RETENTION_SECONDS}"""

MARK = Query("INSERT INTO deleted_ids (kind, id, marked_ms) VALUES (?, ?, ?)", WRITE_DURABLE)
_LOOKUP = "SELECT id, marked_ms FROM deleted_ids WHERE kind = ? AND id IN ?"
MARKED = Query(_LOOKUP, READ_STRONG)
MARKED_FAST = Query(_LOOKUP, READ_FAST)
# Keys per `IN` lookup: the coordinator reads each partition; keep its fan-out moderate.
IN_CHUNK = 100
_CHUNKS_AT_ONCE = 8


class CqlTombstones:
    """Marks in the keyspace's `deleted_ids` table."""

    def __init__(self, db: CqlDatabase, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    async def mark(self, kind: Kind, id_: int) -> None:
        """Mark `id_` deleted now (again: the mark and its TTL are renewed)."""
        await self._db.execute(MARK, (kind.value, id_, int(self._clock() * 1000)))

    async def is_marked(self, kind: Kind, id_: int) -> bool:
        return bool(await self.which_marked(kind, [id_]))

    async def which_marked(self, kind: Kind, ids: Iterable[int], *, fast: bool = False) -> set[int]:
        """The marked ones among `ids`. `fast` reads one replica: only for a check whose miss costs
        nothing anyone can see (say, a row in the feed of an account that no longer exists)."""
        unique = list(dict.fromkeys(ids))
        query = MARKED_FAST if fast else MARKED
        chunks = [unique[start : start + IN_CHUNK] for start in range(0, len(unique), IN_CHUNK)]
        answers = await bounded_gather(
            chunks, lambda chunk: self._db.execute(query, (kind.value, chunk)), _CHUNKS_AT_ONCE
        )
        horizon = horizon_ms(self._clock)
        return {row.id for rows in answers for row in rows if row.marked_ms >= horizon}


def copy_legacy_marks(table: str, id_column: str, kind: Kind, time_column: str | None = None) -> CqlStep:
    """A schema step moving a service's own tombstone table (from before this mechanism) into
    `deleted_ids`; marks without a time count from the copy. The old table stays, unread, until a later
    step drops it, once no replica of the older code can still be writing to it. A shipped step's
    behaviour must not change: change this function only by adding a new one."""
    columns = f"{id_column}, {time_column}" if time_column else id_column

    def step(session: Session) -> None:
        now_ms = int(time.time() * 1000)
        scan = SimpleStatement(f"SELECT {columns} FROM {table}", fetch_size=1000, consistency_level=READ_STRONG)
        insert = session.prepare(MARK.cql)
        insert.consistency_level = WRITE_DURABLE
        marks = (
            (kind.value, row[0], row[1] if time_column and row[1] is not None else now_ms)
            for row in session.execute(scan)
        )
        for _ in execute_concurrent_with_args(session, insert, marks, concurrency=64, results_generator=True):
            pass  # raises on the first failed insert

    step.__doc__ = f"copy {table} into deleted_ids as {kind.value} marks"
    return step
