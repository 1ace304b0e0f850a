"""Where photo bytes go is chosen by configuration only (SHUTTER_BLOB_STORE, defaulting by SHUTTER_STORE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.photo.blobs import FilesystemBlobStore
from services.photo.cql_blobs import CqlBlobStore
from services.photo.s3_blobs import S3BlobStore
from services.photo.service import open_stores
from services.runtime.config import Settings
from services.runtime.server import Runtime

S3 = {"SHUTTER_S3_ENDPOINT": "http://127.0.0.1:1", "SHUTTER_S3_BUCKET": "photos"}


def runtime(tmp_path: Path, **env: str) -> Runtime:
    base = {"SHUTTER_DATA_DIR": str(tmp_path), "SHUTTER_AUTH_SECRET": "s" * 40}
    return Runtime("photo", Settings.from_env({**base, **env}))


@pytest.mark.parametrize(
    ("env", "kind", "swept_periodically"),
    [
        ({}, FilesystemBlobStore, False),  # the embedded default
        ({"SHUTTER_STORE": "cql", **S3}, S3BlobStore, True),  # the cluster path: an object store
        ({"SHUTTER_STORE": "cql", "SHUTTER_BLOB_STORE": "cql"}, CqlBlobStore, True),  # small clusters
        ({"SHUTTER_BLOB_STORE": "s3", **S3}, S3BlobStore, True),  # SQLite rows, bytes in an object store
    ],
)
def test_the_blob_store_follows_the_settings(
    tmp_path: Path, env: dict[str, str], kind: type, swept_periodically: bool
) -> None:
    _, blobs, sweep_seconds = open_stores(runtime(tmp_path, **env))
    assert isinstance(blobs, kind)
    assert (sweep_seconds is not None) == swept_periodically


def test_s3_settings_reach_the_store(tmp_path: Path) -> None:
    env = {
        **S3,
        "SHUTTER_BLOB_STORE": "s3",
        "SHUTTER_S3_PUBLIC_ENDPOINT": "https://cdn.example",
        "SHUTTER_S3_PRESIGN_SECONDS": "60",
    }
    _, blobs, _ = open_stores(runtime(tmp_path, **env))
    assert isinstance(blobs, S3BlobStore)
    assert (blobs.config.endpoint, blobs.config.public_endpoint, blobs.config.bucket, blobs.config.presign_seconds) == (
        "http://127.0.0.1:1",
        "https://cdn.example",
        "photos",
        60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHUTTER_BLOB_STORE": "s3"}, "SHUTTER_S3_ENDPOINT"),
        ({"SHUTTER_BLOB_STORE": "cql"}, "SHUTTER_BLOB_STORE"),  # chunk rows need the CQL backend
        ({"SHUTTER_BLOB_STORE": "tape"}, "SHUTTER_BLOB_STORE"),
    ],
)
def test_a_blob_store_that_cannot_work_stops_the_service(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        open_stores(runtime(tmp_path, **env))
