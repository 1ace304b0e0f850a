"""Blob store conformance: the same assertions on the filesystem store (with SQLite rows), on the CQL
chunked store (with CQL rows) and on the object store (S3 API on a real SeaweedFS, with SQLite rows),
through the BlobStore Protocol and the checks every download makes.

Round trips, missing and corrupt bytes (corrupted directly in each backend's storage) ending in
DATA_LOSS, deletes, the orphan sweep (bytes whose photo never committed, and a delete that died
half-way), and the Deleter. CQL-only tests at the end: the sweep's minimum age (it never takes the
bytes of an upload still on its way to committing) and that a corrupt chunk is never sent. The
object store's own promises (multipart, interrupted uploads, presigned URLs, the store down) are in
test_photo_s3_blobs.py.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.photo.blobs import (
    SWEEP_MIN_AGE_MS,
    BlobMissing,
    BlobStore,
    FilesystemBlobStore,
    blob_key,
    check_stored,
    verified_chunks,
)
from services.photo.cql import CqlPhotoStore
from services.photo.cql_blobs import CHUNK_BYTES, WINDOW_CHUNKS, CqlBlobStore
from services.photo.s3_blobs import S3BlobStore
from services.photo.sqlite import SqlitePhotoStore
from services.photo.store import STORAGE, BlobInfo, PhotoRecord, PhotoStore
from services.photo.sweeper import OrphanSweeper
from services.photo.uploads import VARIANTS, Deleter
from services.runtime.cql import WRITE_DURABLE, CqlDatabase, Query
from services.runtime.errors import DataLoss
from services.runtime.events import new_meta
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OutboxStore, SqliteOutbox
from services.runtime.outbox_cql import CqlOutbox
from shutter.events.v1 import events_pb2
from tests.conformance.conftest import BACKENDS, Databases
from tests.support.seaweedfs import SeaweedServer, s3_config

ids = IdGenerator(94)
# Several chunks, the last one short: 3 full 64 KB chunks and a bit.
DATA = os.urandom(3 * CHUNK_BYTES + 1234)


class Clock:
    """Time for the CQL store's sweep rule, moved forward by tests."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Blobs:
    blobs: BlobStore
    store: PhotoStore
    outbox: OutboxStore
    workdir: Path
    clock: Clock
    corrupt: Callable[[str], Awaitable[None]]

    async def put(self, key: str, data: bytes = DATA) -> None:
        source = self.workdir / f"staged-{key}"
        source.write_bytes(data)
        await self.blobs.put(key, source)
        assert not source.exists()  # moved in, not copied

    async def stored(self, key: str) -> bool:
        try:
            await self.blobs.digest(key)
        except BlobMissing:
            return False
        return True

    async def commit_photo(self, photo_id: int, user_id: int = 1) -> PhotoRecord:
        """A photo row whose three renditions are DATA (put them first, as the uploader does)."""
        info = BlobInfo("image/jpeg", len(DATA), hashlib.sha256(DATA).hexdigest())
        photo = PhotoRecord(photo_id, user_id, "t", "l", 1, (), int(time.time() * 1000), 3, 4, info, info, info)
        event = events_pb2.PhotoPosted(meta=new_meta(ids, "photo"), photo_id=photo_id, user_id=user_id)
        stored, created = await self.store.create(photo, event)
        assert created
        return stored

    def age(self) -> None:
        """Let enough time pass that every upload so far has committed or died."""
        self.clock.offset += SWEEP_MIN_AGE_MS / 1000 + 120


async def read_all(blobs: BlobStore, key: str, chunk_bytes: int) -> list[bytes]:
    return [chunk async for chunk in blobs.read(key, chunk_bytes)]


async def download(blobs: BlobStore, key: str, info: BlobInfo) -> bytes:
    """What DownloadPhoto does: check, then stream with verification."""
    await check_stored(blobs, key, info)
    return b"".join([chunk async for chunk in verified_chunks(blobs, key, info)])


FLIP_CHUNK = Query(
    "UPDATE photo_blobs SET data = ? WHERE photo_id = ? AND variant = ? AND chunk_index = ?", WRITE_DURABLE
)


@pytest.fixture(params=(*BACKENDS, "s3"))
def backend(request: pytest.FixtureRequest) -> str:
    """The two row backends, plus the object store (with SQLite rows: its bytes are what is under test)."""
    return request.param


@pytest.fixture
async def blobs(
    backend: str, databases: Databases, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Blobs]:
    clock = Clock()
    if backend == "s3":
        seaweedfs: SeaweedServer = request.getfixturevalue("seaweedfs")
        database = await databases.sqlite(STORAGE)
        objects = S3BlobStore(s3_config(seaweedfs, "conformance", prefix=f"t{uuid.uuid4().hex[:12]}/"), clock=clock)

        async def corrupt_object(key: str) -> None:
            """Bit rot under the store: same size, same recorded checksum, one byte flipped."""
            name = objects.object_name(key)
            reply = await objects.client.get_object(Bucket=objects.config.bucket, Key=name)
            async with reply["Body"] as body:
                data = bytearray(await body.read())
            data[CHUNK_BYTES + 7] ^= 0xFF
            await objects.client.put_object(
                Bucket=objects.config.bucket, Key=name, Body=bytes(data), Metadata=reply["Metadata"]
            )

        harness = Blobs(objects, SqlitePhotoStore(database), SqliteOutbox(database), tmp_path, clock, corrupt_object)
    elif backend == "sqlite":
        database = await databases.sqlite(STORAGE)
        files = FilesystemBlobStore(tmp_path / "blobs")

        async def corrupt_file(key: str) -> None:
            path = files.path(key)
            data = bytearray(path.read_bytes())
            data[CHUNK_BYTES + 7] ^= 0xFF  # same size, one byte flipped
            path.write_bytes(bytes(data))

        harness = Blobs(files, SqlitePhotoStore(database), SqliteOutbox(database), tmp_path, clock, corrupt_file)
    else:
        cql_db = await databases.cql(STORAGE, service="photo")
        chunks = CqlBlobStore(cql_db, clock=clock)
        outbox = CqlOutbox(cql_db)
        await outbox.start()

        async def corrupt_chunk(key: str) -> None:
            photo_id, _, variant = key.partition(".")
            data = bytearray(DATA[CHUNK_BYTES : 2 * CHUNK_BYTES])
            data[7] ^= 0xFF
            await cql_db.execute(FLIP_CHUNK, (bytes(data), int(photo_id), variant, 1))

        harness = Blobs(chunks, CqlPhotoStore(cql_db), outbox, tmp_path, clock, corrupt_chunk)
    await harness.blobs.start()  # type: ignore[attr-defined]
    yield harness
    await harness.blobs.stop()  # type: ignore[attr-defined]


async def test_put_then_read_back_the_same_bytes_in_any_chunk_size(blobs: Blobs) -> None:
    await blobs.put("1.original")
    info = BlobInfo("image/jpeg", len(DATA), hashlib.sha256(DATA).hexdigest())

    assert await blobs.blobs.digest("1.original") == (info.sha256, len(DATA))
    for chunk_bytes in (4096, CHUNK_BYTES, 1_000_000):
        chunks = await read_all(blobs.blobs, "1.original", chunk_bytes)
        assert b"".join(chunks) == DATA
        assert all(len(chunk) == chunk_bytes for chunk in chunks[:-1]) and len(chunks[-1]) <= chunk_bytes
    assert await download(blobs.blobs, "1.original", info) == DATA


async def test_a_variant_is_its_own_blob(blobs: Blobs) -> None:
    await blobs.put("1.original", b"big" * 1000)
    await blobs.put("1.thumbnail", b"small")

    assert b"".join(await read_all(blobs.blobs, "1.thumbnail", 4096)) == b"small"
    await blobs.blobs.delete("1.thumbnail")
    assert b"".join(await read_all(blobs.blobs, "1.original", 4096)) == b"big" * 1000


async def test_missing_bytes_are_an_error_and_data_loss_when_a_photo_needs_them(blobs: Blobs) -> None:
    info = BlobInfo("image/jpeg", 5, "00" * 32)
    with pytest.raises(BlobMissing):
        await blobs.blobs.digest("2.original")
    with pytest.raises(BlobMissing):
        await read_all(blobs.blobs, "2.original", 4096)
    with pytest.raises(DataLoss, match="missing"):
        await download(blobs.blobs, "2.original", info)


async def test_corrupt_bytes_end_in_data_loss(blobs: Blobs) -> None:
    await blobs.put("3.display")
    info = BlobInfo("image/jpeg", len(DATA), hashlib.sha256(DATA).hexdigest())
    await blobs.corrupt("3.display")

    with pytest.raises(DataLoss):
        await download(blobs.blobs, "3.display", info)


async def test_bytes_that_are_not_what_the_photo_recorded_end_in_data_loss(blobs: Blobs) -> None:
    await blobs.put("4.display")
    recorded = BlobInfo("image/jpeg", len(DATA), hashlib.sha256(b"something else").hexdigest())

    with pytest.raises(DataLoss, match="checksum"):
        await download(blobs.blobs, "4.display", recorded)


async def test_delete_is_idempotent(blobs: Blobs) -> None:
    await blobs.put("5.original")
    await blobs.blobs.delete("5.original")
    await blobs.blobs.delete("5.original")
    await blobs.blobs.delete("6.original")  # never stored

    assert not await blobs.stored("5.original")


async def test_the_sweep_removes_bytes_whose_photo_never_committed(blobs: Blobs) -> None:
    committed, abandoned = ids.next_id(), ids.next_id()
    for photo_id in (committed, abandoned):
        for variant in VARIANTS:
            await blobs.put(blob_key(photo_id, variant))
    await blobs.commit_photo(committed)
    blobs.age()
    sweeper = OrphanSweeper(blobs.store, blobs.blobs)

    assert await sweeper.sweep() == 3
    assert await sweeper.sweep() == 0

    assert [await blobs.stored(blob_key(committed, v)) for v in VARIANTS] == [True, True, True]
    assert [await blobs.stored(blob_key(abandoned, v)) for v in VARIANTS] == [False, False, False]


async def test_the_sweep_finishes_a_delete_that_died_after_the_row_went(blobs: Blobs) -> None:
    photo = await blobs.commit_photo(ids.next_id())
    keys = [blob_key(photo.photo_id, v) for v in VARIANTS]
    for key in keys:
        await blobs.put(key)
    # Deleter's first two steps, then a crash before the blobs' own delete.
    await blobs.blobs.expect_deletion(keys)
    gone = events_pb2.PhotoDeleted(meta=new_meta(ids, "photo"), photo_id=photo.photo_id, user_id=photo.user_id)
    assert await blobs.store.delete(photo.photo_id, gone) == photo
    blobs.age()

    assert await OrphanSweeper(blobs.store, blobs.blobs).sweep() == 3
    assert [await blobs.stored(key) for key in keys] == [False, False, False]


async def test_the_deleter_removes_the_row_its_blobs_and_emits_one_event(blobs: Blobs) -> None:
    photo_id = ids.next_id()
    for variant in VARIANTS:
        await blobs.put(blob_key(photo_id, variant))
    photo = await blobs.commit_photo(photo_id, user_id=12)
    deleter = Deleter(blobs.store, blobs.blobs, ids, "photo")

    assert await deleter.delete(photo)
    assert not await deleter.delete(photo)

    assert await blobs.store.get(photo_id) is None
    assert [await blobs.stored(blob_key(photo_id, v)) for v in VARIANTS] == [False, False, False]
    subjects = [p.subject.rsplit(".", 1)[-1] for p in await blobs.outbox.pending(100)]
    assert subjects.count("deleted") == 1


# CQL only.


async def cql_blobs(databases: Databases) -> tuple[CqlDatabase, CqlBlobStore, CqlPhotoStore, Clock]:
    database = await databases.cql(STORAGE, service="photo")
    clock = Clock()
    store = CqlBlobStore(database, clock=clock)
    await store.start()
    return database, store, CqlPhotoStore(database), clock


async def test_cql_the_sweep_leaves_uploads_younger_than_its_minimum_age(databases: Databases, tmp_path: Path) -> None:
    database, store, photos, clock = await cql_blobs(databases)
    try:
        source = tmp_path / "staged"
        source.write_bytes(b"in flight")
        await store.put("77.original", source)  # its photo row is not committed yet
        sweeper = OrphanSweeper(photos, store)

        clock.offset = SWEEP_MIN_AGE_MS / 1000 - 120
        assert await sweeper.sweep() == 0
        assert await store.digest("77.original") == (hashlib.sha256(b"in flight").hexdigest(), 9)

        clock.offset = SWEEP_MIN_AGE_MS / 1000 + 120
        assert await sweeper.sweep() == 1
        with pytest.raises(BlobMissing):
            await store.digest("77.original")
        # The drained buckets are forgotten: the work list is empty and the next sweep reads nothing of them.
        assert await database.execute(Query("SELECT photo_id FROM blob_uploads", WRITE_DURABLE)) == []
    finally:
        await store.stop()


async def test_cql_a_corrupt_chunk_is_never_sent(databases: Databases, tmp_path: Path) -> None:
    database, store, _, _ = await cql_blobs(databases)
    try:
        data = os.urandom((WINDOW_CHUNKS + 3) * CHUNK_BYTES)
        source = tmp_path / "staged"
        source.write_bytes(data)
        await store.put("78.original", source)
        bad = WINDOW_CHUNKS + 1  # in the second window
        flipped = bytes(b ^ 0xFF for b in data[bad * CHUNK_BYTES : (bad + 1) * CHUNK_BYTES])
        await database.execute(FLIP_CHUNK, (flipped, 78, "original", bad))
        info = BlobInfo("image/jpeg", len(data), hashlib.sha256(data).hexdigest())

        await check_stored(store, "78.original", info)  # the header still matches: only reading finds it
        sent = bytearray()
        with pytest.raises(DataLoss, match=f"chunk {bad} fails its checksum"):
            async for chunk in verified_chunks(store, "78.original", info, CHUNK_BYTES):
                sent += chunk
        assert bytes(sent) == data[: WINDOW_CHUNKS * CHUNK_BYTES]  # the good first window, nothing after
    finally:
        await store.stop()


async def test_cql_a_put_that_died_before_its_header_is_missing(databases: Databases, tmp_path: Path) -> None:
    database, store, _, _ = await cql_blobs(databases)
    try:
        chunk = Query(
            "INSERT INTO photo_blobs (photo_id, variant, chunk_index, data, chunk_sha256) VALUES (?, ?, ?, ?, ?)",
            WRITE_DURABLE,
        )
        await database.execute(chunk, (79, "original", 0, b"half", hashlib.sha256(b"half").digest()))
        with pytest.raises(BlobMissing):
            await store.digest("79.original")
        with pytest.raises(BlobMissing):
            _ = [c async for c in store.read("79.original")]
    finally:
        await store.stop()
