"""Filesystem blob store specifics and upload staging, on a real temp directory. What every blob store
must do (round trips, DATA_LOSS, deletes, the orphan sweep) is in tests/conformance/test_photo_blobs.py."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.photo.blobs import SWEEP_BATCH, FilesystemBlobStore
from services.photo.staging import Staging
from services.runtime.errors import ResourceExhausted


@pytest.fixture
async def blobs(tmp_path: Path) -> AsyncIterator[FilesystemBlobStore]:
    store = FilesystemBlobStore(tmp_path / "blobs")
    await store.start()
    yield store
    await store.stop()


async def _put(blobs: FilesystemBlobStore, tmp_path: Path, key: str, data: bytes) -> None:
    source = tmp_path / f"staged-{key}"
    source.write_bytes(data)
    await blobs.put(key, source)
    assert not source.exists()  # moved, not copied


async def test_at_start_up_every_stored_file_is_a_sweep_candidate(blobs: FilesystemBlobStore, tmp_path: Path) -> None:
    stored = [f"{photo_id}.original" for photo_id in range(1, SWEEP_BATCH + 4)]  # more than one batch
    for key in stored:
        await _put(blobs, tmp_path, key, b"x")
    batches = [batch async for batch in blobs.sweep_candidates()]
    assert sorted(key for batch in batches for key in batch) == sorted(stored)
    assert max(map(len, batches)) <= SWEEP_BATCH


async def test_a_directory_replicas_share_offers_only_files_older_than_an_upload(tmp_path: Path) -> None:
    """Replicas on one machine share the blobs directory: a sibling's upload may be between its blob and its
    row, so a replica starting up must not judge (and delete) the fresh files."""
    shared = FilesystemBlobStore(tmp_path / "blobs", settle_seconds=600)
    await shared.start()
    try:
        await _put(shared, tmp_path, "1.original", b"old")
        await _put(shared, tmp_path, "2.original", b"in flight")
        old = time.time() - 601
        os.utime(shared.path("1.original"), (old, old))
        batches = [batch async for batch in shared.sweep_candidates()]
        assert [key for batch in batches for key in batch] == ["1.original"]
        assert sorted(await shared.keys()) == ["1.original", "2.original"]
    finally:
        await shared.stop()


async def test_keys_cannot_escape_the_root(blobs: FilesystemBlobStore) -> None:
    for bad in ("../x", "", ".hidden", "a/b"):
        with pytest.raises(ValueError):
            blobs.path(bad)


async def test_staging_refuses_past_the_limit_and_sweeps_leftovers(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "tmp")
    await staging.start()
    upload = staging.new(max_bytes=10)
    await upload.open()
    await upload.append(b"12345")
    await upload.append(b"67890")
    with pytest.raises(ResourceExhausted):
        await upload.append(b"!")
    await upload.discard()
    assert list((tmp_path / "tmp").iterdir()) == []

    kept = staging.new(max_bytes=100)
    await kept.open()
    await kept.append(b"abc")
    assert await kept.finish() == hashlib.sha256(b"abc").hexdigest()
    assert kept.original.read_bytes() == b"abc"
    await staging.stop()
    # A new process starting on the same directory removes what the old one left.
    again = Staging(tmp_path / "tmp")
    await again.start()
    assert list((tmp_path / "tmp").iterdir()) == []
    await again.stop()


async def test_a_cancellation_mid_operation_still_leaves_nothing(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "tmp")
    await staging.start()
    for _ in range(20):
        upload = staging.new(max_bytes=10_000_000)
        task = asyncio.create_task(upload.open())
        await asyncio.sleep(0)  # the open is now running in a thread
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await upload.discard()
        assert not upload.directory.exists()
    await staging.stop()
