"""Time-bucketed work lists on CQL (the outbox, the photo blob sweep): a queue must not be one hot,
ever-growing partition full of tombstones, so rows go into (shard, time bucket) partitions, and a
cursor row remembers the oldest bucket that may still hold work (a drained bucket is never read again).
"""

from __future__ import annotations

from typing import Any

from services.runtime.cql import READ_STRONG, SERIAL, WRITE_DURABLE, CqlDatabase, Query, applied


def shard_of(key: int, bits: int) -> int:
    """Fibonacci hashing of an id into 2**bits shards: the low bits of an id are mostly zero at low
    rates, its high bits spread well."""
    return ((key * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> (64 - bits)


class BucketCursor:
    """Named cursor rows in `table`: each created once (the first replica to start wins), then moved."""

    def __init__(self, table: str) -> None:
        self.ddl = f"CREATE TABLE IF NOT EXISTS {table} (name text PRIMARY KEY, bucket bigint)"
        self._init = Query(
            f"INSERT INTO {table} (name, bucket) VALUES (?, ?) IF NOT EXISTS", WRITE_DURABLE, serial_consistency=SERIAL
        )
        self._read = Query(f"SELECT bucket FROM {table} WHERE name = ?", READ_STRONG)
        self._move = Query(f"UPDATE {table} SET bucket = ? WHERE name = ?", WRITE_DURABLE)

    async def init(self, db: CqlDatabase, name: str, bucket: int) -> bool:
        """Create the cursor at `bucket` unless it exists; whether this call created it."""
        return applied(await db.execute(self._init, (name, bucket)))

    async def read(self, db: CqlDatabase, name: str) -> int:
        rows: list[Any] = await db.execute(self._read, (name,))
        return rows[0].bucket

    async def move(self, db: CqlDatabase, name: str, bucket: int) -> None:
        await db.execute(self._move, (bucket, name))
