"""The object store's own promises, on the session's real SeaweedFS (S3 API), beyond the shared suite in
test_photo_blobs.py: large originals go up in parts and an interrupted one leaves nothing visible; the
sweep aborts multipart uploads a crash left and never takes an upload younger than its minimum age;
a corrupt object never arrives whole; presigned URLs serve exactly one object, with immutable caching,
and only while they last; an unreachable store is UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from services.photo.blobs import SWEEP_MIN_AGE_MS, BlobCorrupt, BlobMissing, blob_key
from services.photo.s3_blobs import CACHE_CONTROL, S3BlobStore, S3Config, minute_of, minute_path
from services.photo.sqlite import SqlitePhotoStore
from services.photo.store import STORAGE
from services.photo.sweeper import OrphanSweeper
from services.runtime.errors import Unavailable
from services.runtime.ids import IdGenerator
from tests.conformance.conftest import Databases
from tests.support.mesh import free_port
from tests.support.seaweedfs import SeaweedServer, s3_config

ids = IdGenerator(95)
MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(seaweedfs: SeaweedServer, clock: Clock) -> AsyncIterator[S3BlobStore]:
    """A store on its own prefix, with 5 MiB parts so a 12 MiB original takes three."""
    config = s3_config(
        seaweedfs, "conformance", prefix=f"t{uuid.uuid4().hex[:12]}/", multipart_threshold=5 * MIB, part_bytes=5 * MIB
    )
    objects = S3BlobStore(config, clock=clock)
    await objects.start()
    yield objects
    await objects.stop()


def staged(tmp_path: Path, data: bytes) -> Path:
    source = tmp_path / f"staged-{uuid.uuid4().hex}"
    source.write_bytes(data)
    return source


async def pending_uploads(store: S3BlobStore) -> list[dict]:
    reply = await store.client.list_multipart_uploads(Bucket=store.config.bucket, Prefix=store.config.prefix)
    return reply.get("Uploads", [])


async def test_a_large_original_goes_up_in_parts_and_reads_back_whole(store: S3BlobStore, tmp_path: Path) -> None:
    data = os.urandom(12 * MIB + 4321)
    key = blob_key(ids.next_id(), "original")
    source = staged(tmp_path, data)

    await store.put(key, source)

    assert not source.exists()
    assert await store.digest(key) == (hashlib.sha256(data).hexdigest(), len(data))
    head = await store.client.head_object(Bucket=store.config.bucket, Key=store.object_name(key), PartNumber=1)
    assert head["PartsCount"] == 3  # a multipart object, not one PUT
    assert b"".join([chunk async for chunk in store.read(key, MIB)]) == data
    assert await pending_uploads(store) == []


async def test_a_cancelled_multipart_upload_leaves_nothing_visible(store: S3BlobStore, tmp_path: Path) -> None:
    data = os.urandom(30 * MIB)
    key = blob_key(ids.next_id(), "original")
    source = staged(tmp_path, data)
    putting = asyncio.create_task(store.put(key, source))
    deadline = time.monotonic() + 30
    while not await pending_uploads(store):  # cancel once the upload is under way
        assert time.monotonic() < deadline and not putting.done(), "the multipart upload never started"
        await asyncio.sleep(0.02)

    putting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await putting

    with pytest.raises(BlobMissing):
        await store.digest(key)
    deadline = time.monotonic() + 10
    while await pending_uploads(store):  # the abort is shielded from the cancellation
        assert time.monotonic() < deadline, "the cancelled multipart upload was not aborted"
        await asyncio.sleep(0.1)
    assert source.exists()  # not moved in: the uploader still owns (and removes) it


async def test_the_sweep_aborts_multipart_uploads_a_crash_left_once_old_enough(
    store: S3BlobStore, databases: Databases, clock: Clock
) -> None:
    name = store.object_name(blob_key(ids.next_id(), "original"))
    created = await store.client.create_multipart_upload(Bucket=store.config.bucket, Key=name)
    await store.client.upload_part(
        Bucket=store.config.bucket, Key=name, UploadId=created["UploadId"], PartNumber=1, Body=os.urandom(MIB)
    )
    sweeper = OrphanSweeper(SqlitePhotoStore(await databases.sqlite(STORAGE)), store)

    await sweeper.sweep()
    assert [upload["Key"] for upload in await pending_uploads(store)] == [name]  # young: maybe still going

    clock.offset = SWEEP_MIN_AGE_MS / 1000 + 120
    await sweeper.sweep()
    assert await pending_uploads(store) == []


async def test_the_sweep_leaves_uploads_younger_than_its_minimum_age(
    store: S3BlobStore, databases: Databases, clock: Clock, tmp_path: Path
) -> None:
    key = blob_key(ids.next_id(), "original")
    await store.put(key, staged(tmp_path, b"in flight"))  # its photo row is not committed yet
    sweeper = OrphanSweeper(SqlitePhotoStore(await databases.sqlite(STORAGE)), store)

    clock.offset = SWEEP_MIN_AGE_MS / 1000 - 120
    assert await sweeper.sweep() == 0
    assert await store.digest(key) == (hashlib.sha256(b"in flight").hexdigest(), 9)

    clock.offset = SWEEP_MIN_AGE_MS / 1000 + 120
    assert await sweeper.sweep() == 1
    with pytest.raises(BlobMissing):
        await store.digest(key)
    assert await sweeper.sweep() == 0  # the cursor moved past that minute: it is not listed again


def test_objects_are_filed_under_the_minute_their_photo_id_was_made() -> None:
    photo_id = ids.next_id()
    store = S3BlobStore(S3Config(endpoint="http://127.0.0.1:1", bucket="b", access_key="a", secret_key="s"))
    expected = time.strftime("%Y/%m/%d/%H/%M/", time.gmtime(minute_of(photo_id) * 60))

    assert store.object_name(f"{photo_id}.display") == f"photos/{expected}{photo_id}.display"
    assert minute_path(minute_of(photo_id)) == expected
    with pytest.raises(ValueError):
        store.object_name("../escape.original")


async def test_a_corrupt_object_never_arrives_whole(store: S3BlobStore, tmp_path: Path) -> None:
    data = os.urandom(5 * 64 * 1024 + 99)
    key = blob_key(ids.next_id(), "display")
    await store.put(key, staged(tmp_path, data))
    name = store.object_name(key)
    flipped = bytearray(data)
    flipped[-1] ^= 0xFF  # the very last byte: only the whole-object hash can tell
    await store.client.put_object(
        Bucket=store.config.bucket, Key=name, Body=bytes(flipped), Metadata={"sha256": hashlib.sha256(data).hexdigest()}
    )

    sent = bytearray()
    with pytest.raises(BlobCorrupt):
        async for chunk in store.read(key, 64 * 1024):
            sent += chunk
    assert 0 < len(sent) < len(data)  # the last chunk was held back


async def test_a_presigned_url_serves_one_object_with_immutable_caching_while_it_lasts(
    store: S3BlobStore, tmp_path: Path, seaweedfs: SeaweedServer
) -> None:
    data = os.urandom(200 * 1024)
    key = blob_key(ids.next_id(), "thumbnail")
    other = blob_key(ids.next_id(), "original")
    await store.put(key, staged(tmp_path, data))
    await store.put(other, staged(tmp_path, b"someone else's original"))

    url, seconds = await store.presigned_url(key, "image/jpeg")
    assert seconds == store.config.presign_seconds
    async with httpx.AsyncClient(timeout=10) as http:
        fetched = await http.get(url)
        assert fetched.status_code == 200 and fetched.content == data
        assert fetched.headers["cache-control"] == CACHE_CONTROL
        assert fetched.headers["content-type"] == "image/jpeg"
        # The signature covers the key: the same URL pointed at another object is refused.
        other_url = url.replace(store.object_name(key), store.object_name(other))
        assert (await http.get(other_url)).status_code == 403
        # Nor may anyone read the bucket unsigned.
        unsigned = f"{seaweedfs.endpoint}/{store.config.bucket}/{store.object_name(key)}"
        assert (await http.get(unsigned)).status_code == 403

    short = S3BlobStore(dataclasses.replace(store.config, presign_seconds=1))
    await short.start()
    try:
        expiring, _ = await short.presigned_url(key, "image/jpeg")
    finally:
        await short.stop()
    async with httpx.AsyncClient(timeout=10) as http:
        deadline = time.monotonic() + 30
        while (await http.get(expiring)).status_code == 200:
            assert time.monotonic() < deadline, "a presigned URL outlived its lifetime"
            await asyncio.sleep(0.5)
        assert (await http.get(expiring)).status_code == 403


async def test_an_unreachable_store_is_unavailable_and_start_waits_for_it(tmp_path: Path) -> None:
    config = S3Config(
        endpoint=f"http://127.0.0.1:{free_port()}", bucket="b", access_key="a", secret_key="s", timeout_seconds=2
    )
    store = S3BlobStore(config)
    await store.open()
    try:
        source = staged(tmp_path, b"bytes")
        key = blob_key(ids.next_id(), "original")
        with pytest.raises(Unavailable, match="object store unavailable"):
            await store.put(key, source)
        assert source.exists()  # nothing was taken
        with pytest.raises(Unavailable):
            await store.digest(key)
        with pytest.raises(Unavailable):
            _ = [chunk async for chunk in store.read(key)]
        # A service starting before its store waits (NOT_SERVING) instead of failing.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(store.start(), timeout=3)
    finally:
        await store.stop()


async def test_the_store_refuses_bytes_that_do_not_match_the_checksum_sent(store: S3BlobStore) -> None:
    """What `put` relies on: bytes that arrive other than sent are refused, never stored."""
    name = store.object_name(blob_key(ids.next_id(), "original"))
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    with pytest.raises(ClientError) as refused:
        await store.client.put_object(Bucket=store.config.bucket, Key=name, Body=b"these bytes", ChecksumSHA256=wrong)
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        await store.client.head_object(Bucket=store.config.bucket, Key=name)
