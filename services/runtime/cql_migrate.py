"""Apply every service's CQL schema: `python -m services.runtime.cql_migrate [service ...]`.

Services also migrate their own keyspace on start (versioned steps under a lock, see
services.runtime.cql.migrate_keyspace); this command does it ahead of a deployment (the Helm
pre-upgrade job), so replicas start on a current keyspace and take the lock-free path. Schemas are
found by convention, not by a registry to keep in sync: the `STORAGE` declaration in
`services/<name>/store.py`, for every service in topology.SERVICE_NAMES that has one.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
from collections.abc import Mapping

from services.runtime.config import Settings
from services.runtime.cql import CqlDatabase, CqlSchema
from services.runtime.stores import Storage
from services.runtime.topology import SERVICE_NAMES


def discover_schemas(names: tuple[str, ...] = SERVICE_NAMES) -> dict[str, CqlSchema]:
    """Each stateful service's CQL schema, with the runtime tables its Storage declares."""
    schemas: dict[str, CqlSchema] = {}
    for name in names:
        module_name = f"services.{name}.store"
        if importlib.util.find_spec(module_name) is None:
            continue
        storage = getattr(importlib.import_module(module_name), "STORAGE", None)
        if storage is None:
            continue
        if not isinstance(storage, Storage):
            raise SystemExit(f"{module_name}.STORAGE must be a services.runtime.stores.Storage")
        schema = storage.cql_schema()
        if not isinstance(schema, CqlSchema):
            raise SystemExit(f"{storage.cql} must come with SCHEMA = CqlSchema(...) in its module")
        schemas[name] = schema
    return schemas


async def migrate(settings: Settings, schemas: Mapping[str, CqlSchema]) -> list[str]:
    """Create each service's keyspace and tables (idempotent); returns the keyspaces touched."""
    keyspaces = []
    for service, schema in schemas.items():
        database = CqlDatabase(settings, service, schema)
        await database.start()
        await database.stop()
        keyspaces.append(database.keyspace)
    return keyspaces


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.runtime.cql_migrate", description=__doc__)
    parser.add_argument(
        "services", nargs="*", metavar="service", help=f"one of {', '.join(SERVICE_NAMES)} (default: all)"
    )
    args = parser.parse_args()
    unknown = sorted(set(args.services) - set(SERVICE_NAMES))
    if unknown:
        parser.error(f"unknown service(s): {', '.join(unknown)}")
    schemas = discover_schemas(tuple(args.services) or SERVICE_NAMES)
    settings = Settings.from_env()
    keyspaces = asyncio.run(migrate(settings, schemas))
    contact = ",".join(settings.cql_contact_points)
    print(f"migrated {len(keyspaces)} keyspace(s) on {contact}:{settings.cql_port}: {' '.join(keyspaces) or '-'}")


if __name__ == "__main__":
    main()
