"""The real photo service with its bytes in a real SeaweedFS (SHUTTER_BLOB_STORE=s3), over real gRPC and
the real HTTP gateway.

A SeaweedFS of this module's own (the tests kill it) and a mesh of nats-server + photo + gateway. The
bytes are looked up in the object store itself, and the service's data directory must hold no blob
files, so a service silently falling back to the filesystem fails. Downloads: streamed by default,
a 307 to a presigned URL when the client accepts one — for the ORIGINAL only for its owner. Failure:
the store down during uploads is UNAVAILABLE with no photo half-visible, and a retry with the same
idempotency key succeeds once the store is back. Replication: with replication 001 on two volume
servers, reads keep working after one is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from services.photo.blobs import blob_key
from services.photo.s3_blobs import CACHE_CONTROL, S3BlobStore
from services.runtime.ids import IdGenerator
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import download, make_jpeg, sha256, upload_response
from tests.support.seaweedfs import SeaweedServer, s3_config

BUCKET = "photos-it"
ids = IdGenerator(96)


@pytest.fixture(scope="module")
def store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(Path(tmp_path_factory.mktemp("photos3weed")))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
async def s3_mesh(tmp_path_factory: pytest.TempPathFactory, store_server: SeaweedServer) -> AsyncIterator[Mesh]:
    workdir = Path(tmp_path_factory.mktemp("photos3mesh"))
    async with Mesh(workdir, services=("photo", "follow"), extra_env=store_server.env(BUCKET)) as running:
        running.start_gateway()
        await running.wait_gateway()
        yield running


@pytest.fixture
async def objects(store_server: SeaweedServer) -> AsyncIterator[S3BlobStore]:
    """The service's bucket, seen directly."""
    store = S3BlobStore(s3_config(store_server, BUCKET))
    await store.open()
    yield store
    await store.stop()


async def stored_keys(objects: S3BlobStore) -> list[str]:
    reply = await objects.client.list_objects_v2(Bucket=BUCKET, Prefix="photos/2")  # the minute folders
    return sorted(item["Key"].rsplit("/", 1)[-1] for item in reply.get("Contents", []))


async def test_bytes_live_in_the_object_store_and_download_streamed_or_presigned(
    s3_mesh: Mesh, objects: S3BlobStore
) -> None:
    owner = secrets.randbelow(2**40) + 1_000
    token, stranger = s3_mesh.user_token(owner), {"Authorization": f"Bearer {s3_mesh.user_token(owner + 1)}"}
    data = make_jpeg(1600, 1200)
    photo = (await upload_response(s3_mesh, token, owner, data, idempotency_key="s3-1")).photo

    keys = [blob_key(photo.photo_id, v) for v in ("display", "original", "thumbnail")]
    assert set(keys) <= set(await stored_keys(objects))
    assert await objects.digest(blob_key(photo.photo_id, "original")) == (sha256(data), len(data))
    assert not [p for p in s3_mesh.workdir.glob("data/photo/blobs/**/*") if p.is_file()]
    info, streamed = await download(s3_mesh, token, photo.photo_id)
    assert streamed == data and info.sha256 == photo.sha256 and not info.url

    owner_headers = {"Authorization": f"Bearer {token}"}
    content = f"/v1/photos/{photo.photo_id}/content"
    async with httpx.AsyncClient(base_url=s3_mesh.gateway_url, timeout=30) as http:
        plain = await http.get(f"{content}?variant=PHOTO_VARIANT_DISPLAY", headers=stranger)
        assert plain.status_code == 200 and "immutable" in plain.headers["cache-control"]

        redirect = await http.get(f"{content}?variant=PHOTO_VARIANT_DISPLAY&accept_url=true", headers=stranger)
        assert redirect.status_code == 307, redirect.text
        max_age = int(redirect.headers["cache-control"].removeprefix("private, max-age="))
        assert 0 < max_age < 300  # reused only while the URL is still good
        location = redirect.headers["location"]
        assert location.startswith(objects.config.endpoint) and "X-Amz-Signature=" in location
        async with httpx.AsyncClient(timeout=30) as direct:  # a client of the store, no token
            fetched = await direct.get(location)
        assert fetched.status_code == 200 and fetched.content == plain.content
        assert fetched.headers["cache-control"] == CACHE_CONTROL
        assert fetched.headers["content-type"] == "image/jpeg"

        # The original stays its owner's: nobody else gets it streamed or signed.
        original = f"{content}?variant=PHOTO_VARIANT_ORIGINAL&accept_url=true"
        refused = await http.get(original, headers=stranger)
        assert refused.status_code == 403 and "location" not in refused.headers
        signed = await http.get(original, headers=owner_headers)
        assert signed.status_code == 307
        async with httpx.AsyncClient(timeout=30) as direct:
            assert (await direct.get(signed.headers["location"])).content == data


async def test_the_store_down_during_uploads_is_unavailable_and_a_retry_with_the_same_key_succeeds(
    s3_mesh: Mesh, store_server: SeaweedServer, objects: S3BlobStore
) -> None:
    owner = secrets.randbelow(2**40) + 1_000
    token = s3_mesh.user_token(owner)
    photos = photo_pb2_grpc.PhotoServiceStub(s3_mesh.channel("photo"))
    data = make_jpeg(800, 600)
    key = f"retry-{uuid.uuid4().hex[:8]}"
    before = await stored_keys(objects)

    store_server.kill()
    try:
        for _ in range(2):  # the first and a retry while it is still down
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await upload_response(s3_mesh, token, owner, data, idempotency_key=key)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value.details()
        listed = await photos.ListUserPhotos(
            photo_pb2.ListUserPhotosRequest(user_id=owner, page_size=10), metadata=auth(token), timeout=10
        )
        assert list(listed.photos) == []  # nothing half-visible
    finally:
        store_server.start()

    assert await stored_keys(objects) == before  # not a byte of it was stored either
    stored = await retry_until_stored(s3_mesh, token, owner, data, key)
    assert stored.created
    again = await upload_response(s3_mesh, token, owner, data, idempotency_key=key)
    assert not again.created and again.photo == stored.photo
    _, body = await download(s3_mesh, token, stored.photo.photo_id)
    assert body == data


async def retry_until_stored(
    mesh: Mesh, token: str, owner: int, data: bytes, key: str, timeout: float = 60
) -> photo_pb2.UploadPhotoResponse:
    """What a client does with UNAVAILABLE: the same upload, same idempotency key, until it lands."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await upload_response(mesh, token, owner, data, idempotency_key=key)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


@pytest.mark.slow
async def test_reads_keep_working_with_a_volume_server_killed_under_replication_001(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = SeaweedServer(Path(tmp_path_factory.mktemp("weed001")), replication="001")
    server.start()
    try:
        second = server.add_volume_server()
        store = S3BlobStore(s3_config(server, "replicated"))
        await store.start()
        try:
            workdir = Path(tmp_path_factory.mktemp("staged001"))
            blobs = {}
            for _ in range(12):
                key = blob_key(ids.next_id(), "display")
                blobs[key] = os.urandom(200 * 1024)
                (workdir / key).write_bytes(blobs[key])
                await store.put(key, workdir / key)
            deadline = time.monotonic() + 30  # the master learns of volumes by heartbeat
            while not replicated_on_two_servers(server, "replicated"):
                assert time.monotonic() < deadline, "volumes were not replicated on both volume servers"
                await asyncio.sleep(0.5)

            second.kill()
            second.wait(10)

            for key, data in blobs.items():
                assert b"".join([chunk async for chunk in store.read(key)]) == data, key
        finally:
            await store.stop()
    finally:
        server.kill()


def replicated_on_two_servers(server: SeaweedServer, collection: str) -> bool:
    """Every volume of the collection has its 001 copy on both volume servers (the master's view)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.master_port}/vol/status", timeout=5) as reply:
        status = json.load(reply)
    holders: dict[int, set[str]] = {}
    for center in status["Volumes"]["DataCenters"].values():
        for rack in center.values():
            for node, volumes in rack.items():
                for volume in volumes or []:
                    if volume["Collection"] == collection:
                        holders.setdefault(volume["Id"], set()).add(node)
    return bool(holders) and all(len(nodes) == 2 for nodes in holders.values())
