"""Tombstones: "this photo (or user) was deleted: never bring it back", one mechanism for every store.

A deletion leaves a mark; every write that a late or redelivered event, or a request racing the
deletion, could make checks the marks first. A mark lives RETENTION: the events stream's redelivery
horizon (its max_age: nothing older is ever delivered again) plus a margin for an event's wait in a
producer's outbox and for clocks; requests racing a deletion last seconds. Ids are never reused, so
a mark is never needed longer. The reasoning in full: docs/storage/README.md#tombstones.

Here the SQLite side, whose marks are read and written in the caller's transaction (the check and the
write it guards commit together); the CQL side is tombstones_cql.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from enum import StrEnum

from services.runtime.events import EVENT_STREAM_MAX_AGE_SECONDS

RETENTION_MARGIN_SECONDS = 24 * 3600
RETENTION_SECONDS = EVENT_STREAM_MAX_AGE_SECONDS + RETENTION_MARGIN_SECONDS
RETENTION_MS = RETENTION_SECONDS * 1000

Clock = Callable[[], float]


class Kind(StrEnum):
    """What a mark is about: ids of different kinds never collide."""

    PHOTO = "photo"
    USER = "user"


SQLITE_TABLE = """
CREATE TABLE IF NOT EXISTS deleted_ids (
    kind TEXT NOT NULL,
    id INTEGER NOT NULL,
    marked_ms INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deleted_ids_by_age ON deleted_ids (marked_ms);
"""

# Bound parameters per lookup: far below SQLite's limit (32,766; 999 on old builds).
_IN_CHUNK = 500


def horizon_ms(clock: Clock) -> int:
    """Marks made before this instant have expired."""
    return int(clock() * 1000) - RETENTION_MS


class SqliteTombstones:
    """Marks in the `deleted_ids` table, used inside the caller's write (or read) transaction."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock

    def mark(self, conn: sqlite3.Connection, kind: Kind, id_: int) -> None:
        """Mark `id_` deleted now (again: the mark is renewed), and drop the marks that have expired."""
        now_ms = int(self._clock() * 1000)
        conn.execute(
            "INSERT INTO deleted_ids (kind, id, marked_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (kind, id) DO UPDATE SET marked_ms = excluded.marked_ms",
            (kind.value, id_, now_ms),
        )
        conn.execute("DELETE FROM deleted_ids WHERE marked_ms < ?", (now_ms - RETENTION_MS,))

    def is_marked(self, conn: sqlite3.Connection, kind: Kind, id_: int) -> bool:
        row = conn.execute(
            "SELECT 1 FROM deleted_ids WHERE kind = ? AND id = ? AND marked_ms >= ?",
            (kind.value, id_, horizon_ms(self._clock)),
        ).fetchone()
        return row is not None

    def which_marked(self, conn: sqlite3.Connection, kind: Kind, ids: Iterable[int]) -> set[int]:
        unique = list(dict.fromkeys(ids))
        horizon = horizon_ms(self._clock)
        found: set[int] = set()
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT id FROM deleted_ids WHERE kind = ? AND marked_ms >= ? AND id IN ({marks})",
                (kind.value, horizon, *chunk),
            )
            found.update(row[0] for row in rows)
        return found
