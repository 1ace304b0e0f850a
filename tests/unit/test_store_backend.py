"""The store backend is chosen by configuration only (SHUTTER_STORE)."""

from __future__ import annotations

import pytest

from services.photo.store import STORAGE
from services.runtime.config import Settings
from services.runtime.cql import CqlDatabase
from services.runtime.outbox import OutboxRelay
from services.runtime.outbox_cql import CqlOutbox
from services.runtime.server import Runtime
from services.runtime.stores import open_database


def runtime(tmp_path, store: str) -> Runtime:  # type: ignore[no-untyped-def]
    env = {"SHUTTER_STORE": store, "SHUTTER_DATA_DIR": str(tmp_path), "SHUTTER_AUTH_SECRET": "s" * 40}
    return Runtime("photo", Settings.from_env(env))


@pytest.mark.parametrize("store", ["sqlite", "cql"])
def test_store_backend_follows_shutter_store(tmp_path, store: str) -> None:  # type: ignore[no-untyped-def]
    assert runtime(tmp_path, store).store_backend == store


def test_an_unknown_store_backend_stops_the_service(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit, match="SHUTTER_STORE"):
        _ = runtime(tmp_path, "mongodb").store_backend


def test_cql_with_outbox_starts_keyspace_then_outbox_then_relay(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt = runtime(tmp_path, "cql")
    database = open_database(rt, STORAGE)  # photo emits events

    assert database.keyspace == "shutter_photo"
    kinds = [type(c) for c in rt.components]
    assert kinds.index(CqlDatabase) < kinds.index(CqlOutbox) < kinds.index(OutboxRelay)
