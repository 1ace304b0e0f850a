"""Opening a service's store: one declaration per service (`STORAGE` in its store.py), one way to open it.

`open_store` replaces the store-opening function every service had: it picks the backend from
SHUTTER_STORE, imports only that backend's module (a SQLite deployment never loads a service's CQL
module), opens and migrates the database, and adds the outbox and its relay when the service emits
events. The bootstrap (services.runtime.server) imports neither backend.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.runtime.cql import CqlDatabase, CqlSchema
    from services.runtime.server import Runtime
    from services.runtime.sqlite import Database, SqliteSchema


@dataclass(frozen=True)
class Storage:
    """How a service keeps its data. `sqlite` and `cql` name each backend's store class as
    "module:Class"; that module also defines `SCHEMA` (a SqliteSchema or a CqlSchema).

    emits_events: the service writes events through the transactional outbox, so its database gets
    the outbox tables and the runtime relays them. tombstones: its database gets the runtime's
    deletion marks (services.runtime.tombstones).
    """

    sqlite: str
    cql: str
    emits_events: bool = False
    tombstones: bool = False

    def module(self, backend: str) -> ModuleType:
        return importlib.import_module(self._target(backend)[0])

    def store_class(self, backend: str) -> type:
        return getattr(self.module(backend), self._target(backend)[1])

    def sqlite_schema(self) -> SqliteSchema:
        """The service's SQLite steps plus the runtime tables it declared."""
        from services.runtime.outbox import OUTBOX_SCHEMA
        from services.runtime.tombstones import SQLITE_TABLE

        schema: SqliteSchema = self.module("sqlite").SCHEMA
        extra = (OUTBOX_SCHEMA if self.emits_events else "") + (SQLITE_TABLE if self.tombstones else "")
        return replace(schema, runtime_tables=schema.runtime_tables + extra)

    def cql_schema(self) -> CqlSchema:
        """The service's CQL steps plus the runtime tables it declared."""
        from services.runtime.outbox_cql import OUTBOX_TABLES
        from services.runtime.tombstones_cql import CQL_TABLE

        schema: CqlSchema = self.module("cql").SCHEMA
        extra = (OUTBOX_TABLES if self.emits_events else ()) + ((CQL_TABLE,) if self.tombstones else ())
        return replace(schema, runtime_tables=schema.runtime_tables + extra)

    def _target(self, backend: str) -> tuple[str, str]:
        module, _, name = {"sqlite": self.sqlite, "cql": self.cql}[backend].partition(":")
        return module, name


def open_database(runtime: Runtime, storage: Storage) -> Database | CqlDatabase:
    """The service's database on the configured backend, registered with the runtime (started before
    SERVING, migrated on start), with the outbox relay when the service emits events."""
    if runtime.store_backend == "cql":
        from services.runtime.cql import CqlDatabase
        from services.runtime.outbox import OutboxRelay
        from services.runtime.outbox_cql import CqlOutbox

        cluster = CqlDatabase(runtime.settings, runtime.name, storage.cql_schema())
        runtime.add_component(cluster)
        if storage.emits_events:
            outbox = CqlOutbox(cluster)
            runtime.add_component(outbox)
            # This process's batches wake the relay; the slower poll finds rows whose writer died before
            # relaying them, and costs OUTBOX_SHARDS queries per bucket in the late-write window.
            relay = OutboxRelay(outbox, runtime.events(), idle_poll_seconds=5.0)
            cluster.add_commit_listener(relay.wake)
            runtime.add_component(relay)
        return cluster

    from services.runtime.outbox import OutboxRelay, SqliteOutbox
    from services.runtime.sqlite import Database

    database = Database(runtime.data_path(f"{runtime.name}.db"), storage.sqlite_schema())
    runtime.add_component(database)
    if storage.emits_events:
        sqlite_relay = OutboxRelay(SqliteOutbox(database), runtime.events())
        database.add_commit_listener(sqlite_relay.wake)
        runtime.add_component(sqlite_relay)
    return database


def open_store(runtime: Runtime, storage: Storage, **options: Any) -> Any:
    """The service's store on the configured backend: its class built on `open_database`, with `options`."""
    return storage.store_class(runtime.store_backend)(open_database(runtime, storage), **options)
