"""Filesystem blob store, upload staging and the start-up sweep, on a real temp directory."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.photo.blobs import BlobMissing, FilesystemBlobStore, blob_key
from services.photo.staging import Staging
from services.photo.store import PhotoRecord
from services.photo.sweeper import OrphanSweeper
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


async def test_put_read_digest_delete(blobs: FilesystemBlobStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    await _put(blobs, tmp_path, "1.original", data)
    assert await blobs.digest("1.original") == (hashlib.sha256(data).hexdigest(), len(data))
    chunks = [chunk async for chunk in blobs.read("1.original", 4096)]
    assert b"".join(chunks) == data and max(map(len, chunks)) == 4096
    assert await blobs.keys() == ["1.original"]
    await blobs.delete("1.original")
    await blobs.delete("1.original")  # idempotent
    with pytest.raises(BlobMissing):
        await blobs.digest("1.original")
    with pytest.raises(BlobMissing):
        _ = [chunk async for chunk in blobs.read("1.original")]


async def test_keys_cannot_escape_the_root(blobs: FilesystemBlobStore) -> None:
    for bad in ("../x", "", ".hidden", "a/b"):
        with pytest.raises(ValueError):
            blobs.path(bad)


async def test_staging_refuses_past_the_limit_and_sweeps_leftovers(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "tmp")
    await staging.start()
    upload = await staging.begin(max_bytes=10)
    await upload.append(b"12345")
    await upload.append(b"67890")
    with pytest.raises(ResourceExhausted):
        await upload.append(b"!")
    await upload.discard()
    assert list((tmp_path / "tmp").iterdir()) == []

    kept = await staging.begin(max_bytes=100)
    await kept.append(b"abc")
    assert await kept.finish() == hashlib.sha256(b"abc").hexdigest()
    assert kept.original.read_bytes() == b"abc"
    await staging.stop()
    # A new process starting on the same directory removes what the old one left.
    again = Staging(tmp_path / "tmp")
    await again.start()
    assert list((tmp_path / "tmp").iterdir()) == []
    await again.stop()


class _Rows:
    """Just enough of a PhotoStore for the sweeper: which photo ids have rows."""

    def __init__(self, ids: set[int]) -> None:
        self.ids = ids

    async def existing(self, photo_ids: list[int]) -> set[int]:
        return self.ids & set(photo_ids)

    async def get(self, photo_id: int) -> PhotoRecord | None:
        raise AssertionError("not used")


async def test_sweep_removes_only_unreferenced_blobs(blobs: FilesystemBlobStore, tmp_path: Path) -> None:
    for photo_id in (1, 2):
        for variant in ("original", "display"):
            await _put(blobs, tmp_path, blob_key(photo_id, variant), b"x")
    sweeper = OrphanSweeper(_Rows({1}), blobs)  # type: ignore[arg-type]
    assert await sweeper.sweep() == 2
    assert sorted(await blobs.keys()) == ["1.display", "1.original"]
