"""The search index's backend follows SHUTTER_STORE, for the service and the reindex command alike."""

from __future__ import annotations

from pathlib import Path

from services.runtime.config import Settings
from services.runtime.cql import CqlDatabase
from services.runtime.cql_migrate import discover_schemas
from services.runtime.outbox_cql import OUTBOX_TABLES
from services.runtime.server import Runtime
from services.runtime.sqlite import Database
from services.runtime.stores import open_store
from services.search import cql
from services.search.cql import CqlSearchStore
from services.search.sqlite import SqliteSearchStore
from services.search.store import STORAGE


def runtime(tmp_path: Path, store: str) -> Runtime:
    env = {"SHUTTER_STORE": store, "SHUTTER_DATA_DIR": str(tmp_path), "SHUTTER_AUTH_SECRET": "s" * 40}
    return Runtime("search", Settings.from_env(env))


def test_cql_backend_opens_the_search_keyspace(tmp_path: Path) -> None:
    rt = runtime(tmp_path, "cql")
    assert isinstance(open_store(rt, STORAGE), CqlSearchStore)
    [database] = rt.components
    assert isinstance(database, CqlDatabase)
    assert database.keyspace == "shutter_search"


def test_sqlite_backend_opens_the_embedded_index(tmp_path: Path) -> None:
    rt = runtime(tmp_path, "sqlite")
    assert isinstance(open_store(rt, STORAGE), SqliteSearchStore)
    assert [type(c) for c in rt.components] == [Database]


def test_the_migrate_command_finds_the_search_schema_without_an_outbox() -> None:
    schema = discover_schemas(("search",))["search"]
    assert schema.steps == cql.SCHEMA.steps
    assert not set(OUTBOX_TABLES) & set(schema.runtime_tables)
