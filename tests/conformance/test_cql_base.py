"""The CQL store base on a real node: migrations, paging, lightweight transactions, errors."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest

from services.runtime.cql import (
    READ_FAST,
    READ_STRONG,
    SERIAL,
    WRITE_DURABLE,
    CqlDatabase,
    CqlSchema,
    Query,
    applied,
)
from services.runtime.cql_migrate import discover_schemas, migrate
from services.runtime.outbox_cql import OUTBOX_TABLES
from tests.conformance.conftest import CqlAdmin, Databases

ITEMS = CqlSchema(
    (
        """CREATE TABLE IF NOT EXISTS items_by_owner (
            owner_id bigint, item_id bigint, name text,
            PRIMARY KEY ((owner_id), item_id)
        ) WITH CLUSTERING ORDER BY (item_id DESC)""",
        "ALTER TABLE items_by_owner ADD colour text",
    )
)
INSERT = Query("INSERT INTO items_by_owner (owner_id, item_id, name, colour) VALUES (?, ?, ?, ?)", WRITE_DURABLE)
NEWEST = Query("SELECT item_id FROM items_by_owner WHERE owner_id = ?", READ_FAST)
CLAIM = Query(
    "INSERT INTO items_by_owner (owner_id, item_id, name) VALUES (?, ?, ?) IF NOT EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
NAME = Query("SELECT name FROM items_by_owner WHERE owner_id = ? AND item_id = ?", READ_STRONG)


async def test_migrate_creates_a_keyspace_per_service_and_is_idempotent(
    databases: Databases, cql_admin: CqlAdmin
) -> None:
    settings = databases.cql_settings("migratetest")
    schemas = {"photo": ITEMS, "feed": CqlSchema(ITEMS.steps, OUTBOX_TABLES)}

    assert await migrate(settings, schemas) == ["migratetest_photo", "migratetest_feed"]
    assert await migrate(settings, schemas) == ["migratetest_photo", "migratetest_feed"]  # again: no error

    def tables(keyspace: str) -> set[str]:
        query = "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s"
        return {row.table_name for row in cql_admin.session.execute(query, (keyspace,))}

    versioning = {"schema_version", "schema_lock"}
    assert tables("migratetest_photo") == {"items_by_owner", *versioning}
    assert tables("migratetest_feed") == {"items_by_owner", "outbox", "outbox_cursor", *versioning}
    replication = cql_admin.session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", ("migratetest_photo",)
    ).one()
    assert replication.replication["replication_factor"] == "1"
    for keyspace in ("migratetest_photo", "migratetest_feed"):
        cql_admin.session.execute(f"DROP KEYSPACE {keyspace}")


def test_no_service_has_a_cql_schema_that_fails_to_load() -> None:
    for schema in discover_schemas().values():
        assert schema.steps


async def test_restarting_on_an_existing_keyspace_reapplies_the_schema(databases: Databases) -> None:
    first = await databases.cql(ITEMS, service="items")
    await first.execute(INSERT, (1, 10, "kept", "red"))

    same = CqlDatabase(first.settings, "items", ITEMS)  # the same keyspace, started again
    await same.start()
    try:
        assert [row.name for row in await same.execute(NAME, (1, 10))] == ["kept"]
    finally:
        await same.stop()


async def test_pages_follow_the_clustering_order_and_end(databases: Databases) -> None:
    database = await databases.cql(ITEMS, service="items")
    for item_id in range(1, 8):
        await database.execute(INSERT, (5, item_id, f"item {item_id}", None))

    seen: list[int] = []
    state = None
    pages = 0
    while True:
        page = await database.page(NEWEST, (5,), page_size=3, paging_state=state)
        seen.extend(row.item_id for row in page.rows)
        pages += 1
        state = page.paging_state
        if state is None:
            break

    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert pages == 3


async def test_lightweight_transaction_applies_once(databases: Databases) -> None:
    database = await databases.cql(ITEMS, service="items")

    assert applied(await database.execute(CLAIM, (9, 1, "first")))
    assert not applied(await database.execute(CLAIM, (9, 1, "second")))
    assert [row.name for row in await database.execute(NAME, (9, 1))] == ["first"]


async def test_a_rejected_batch_writes_nothing(databases: Databases) -> None:
    """A conditional batch spanning two partitions is refused as a whole (the LWT-then-batch rule)."""
    database = await databases.cql(ITEMS, service="items")

    with pytest.raises(InvalidRequest, match="partition"):
        await database.batch([(INSERT, (4, 1, "plain", None)), (CLAIM, (3, 2, "conditional"))])

    assert await database.execute(NAME, (4, 1)) == []
    assert await database.execute(NAME, (3, 2)) == []
