"""No lost photos, no lost events: limits, cancellations, corruption, NATS outages and SIGKILL.

These tests stop and kill processes, so they run on their own small mesh (nats-server + the photo
service) with a low upload limit, never on the shared one. With no user service in it, the users
here have tokens but no accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import nats
import pytest
from google.protobuf.message import Message
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.photo.blobs import FilesystemBlobStore, blob_key
from services.runtime.events import EVENTS_STREAM, SUBJECTS, decode, new_meta
from services.runtime.ids import IdGenerator
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.integration.test_photo_api import user_photo_ids
from tests.support.mesh import Mesh, auth
from tests.support.metrics import scrape, scrape_until
from tests.support.photos import download, make_jpeg, metadata, sha256, upload
from tests.support.users import user_without_account
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

MAX_UPLOAD_BYTES = 300_000
VARIANTS = ("original", "display", "thumbnail")


@pytest.fixture(scope="module")
async def photo_mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    running = Mesh(
        Path(tmp_path_factory.mktemp("photo-mesh")),
        services=("photo", "follow"),
        extra_env={"SHUTTER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)},
    )
    try:
        await running.start()
        yield running
    finally:
        await running.close()


def photo_dir(mesh: Mesh) -> Path:
    return mesh.settings.data_dir / "photo"


def blob_store(mesh: Mesh) -> FilesystemBlobStore:
    """Only for locating files: the service owns the directory."""
    return FilesystemBlobStore(photo_dir(mesh) / "blobs")


def blob_files(mesh: Mesh) -> set[str]:
    return {path.name for path in (photo_dir(mesh) / "blobs").glob("*/*")}


def committed_photo_ids(mesh: Mesh) -> set[int]:
    """Every photo row, read straight from the service's database (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{photo_dir(mesh) / 'photo.db'}?mode=ro", uri=True)) as conn:
        return {row[0] for row in conn.execute("SELECT photo_id FROM photos")}


def staged_entries(mesh: Mesh) -> list[Path]:
    return list((photo_dir(mesh) / "tmp").iterdir())


def stub(mesh: Mesh) -> photo_pb2_grpc.PhotoServiceStub:
    return photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))


async def stream_events(mesh: Mesh, event_type: type[Message]) -> list[Message]:
    """Every event of this type the stream holds now, as many times as it holds it."""
    client = await nats.connect(mesh.settings.nats_url)
    try:
        jetstream = client.jetstream()
        subscription = await jetstream.pull_subscribe(
            SUBJECTS[event_type],
            durable=f"test-{uuid.uuid4().hex[:12]}",
            stream=EVENTS_STREAM,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT),
        )
        events: list[Message] = []
        while True:
            try:
                batch = await subscription.fetch(256, timeout=1.0)
            except TimeoutError:  # nats-py raises its own subclass or asyncio's
                break
            for message in batch:
                events.append(decode(message.subject, message.data))
                await message.ack()
        await jetstream.delete_consumer(EVENTS_STREAM, (await subscription.consumer_info()).name)
        return events
    finally:
        await client.close()


async def events_for(mesh: Mesh, event_type: type[Message], user_id: int) -> list[int]:
    """Photo ids of this user's events of this type, duplicates kept."""
    return [e.photo_id for e in await stream_events(mesh, event_type) if e.user_id == user_id]  # type: ignore[attr-defined]


async def test_oversized_stream_is_refused_while_streaming(photo_mesh: Mesh) -> None:
    owner = user_without_account(photo_mesh)
    user = owner.user_id
    sent = 0

    def endless() -> Iterator[photo_pb2.UploadPhotoRequest]:
        nonlocal sent
        yield photo_pb2.UploadPhotoRequest(metadata=metadata(user))
        chunk = b"\xff" * 64 * 1024
        for _ in range(100 * 1024 * 1024 // len(chunk)):  # would be 100 MB
            sent += len(chunk)
            yield photo_pb2.UploadPhotoRequest(chunk=chunk)

    def call() -> grpc.RpcError:
        # The sync client: grpc.aio's can report INTERNAL instead of the server's status when the
        # server ends a client stream early (grpc/grpc#36066).
        with grpc.insecure_channel(photo_mesh.address("photo")) as channel:
            try:
                photo_pb2_grpc.PhotoServiceStub(channel).UploadPhoto(endless(), metadata=owner.metadata, timeout=60)
            except grpc.RpcError as exc:
                return exc
        raise AssertionError("an oversized upload was accepted")

    error = await asyncio.to_thread(call)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert str(MAX_UPLOAD_BYTES) in error.details()  # type: ignore[attr-defined]
    assert sent < 20 * 1024 * 1024, f"the server let {sent} bytes through before refusing"
    await eventually(lambda: staged_entries(photo_mesh) == [], timeout=30)
    assert await user_photo_ids(photo_mesh, user) == []


async def test_a_stream_cancelled_half_way_leaves_nothing(photo_mesh: Mesh) -> None:
    owner = user_without_account(photo_mesh)
    user = owner.user_id
    blobs_before = blob_files(photo_mesh)
    halfway = asyncio.Event()
    data = make_jpeg(600, 400)

    async def stalls() -> AsyncIterator[photo_pb2.UploadPhotoRequest]:
        yield photo_pb2.UploadPhotoRequest(metadata=metadata(user))
        yield photo_pb2.UploadPhotoRequest(chunk=data[: len(data) // 2])
        halfway.set()
        await asyncio.Event().wait()  # never sends the rest

    call = stub(photo_mesh).UploadPhoto(stalls(), metadata=owner.metadata, timeout=60)
    await halfway.wait()
    await eventually(lambda: len(staged_entries(photo_mesh)) == 1, timeout=30)  # the server is mid-upload
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await eventually(lambda: staged_entries(photo_mesh) == [], timeout=30)
    assert blob_files(photo_mesh) == blobs_before
    assert await user_photo_ids(photo_mesh, user) == []


@pytest.mark.parametrize("variant", VARIANTS)
async def test_corrupted_or_missing_blob_is_data_loss(photo_mesh: Mesh, variant: str) -> None:
    owner = user_without_account(photo_mesh)
    user, token = owner.user_id, owner.token
    photo = await upload(photo_mesh, token, user, make_jpeg(300, 200))
    path = blob_store(photo_mesh).path(blob_key(photo.photo_id, variant))
    number = photo_pb2.PhotoVariant.Value(f"PHOTO_VARIANT_{variant.upper()}")
    stored = path.read_bytes()
    info, body = await download(photo_mesh, token, photo.photo_id, number)
    assert body == stored and sha256(body) == info.sha256

    flipped = bytearray(stored)
    flipped[len(flipped) // 2] ^= 0x01
    path.write_bytes(bytes(flipped))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download(photo_mesh, token, photo.photo_id, number)
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS

    path.unlink()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download(photo_mesh, token, photo.photo_id, number)
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    # The owner can still delete what is left of it.
    await stub(photo_mesh).DeletePhoto(photo_pb2.DeletePhotoRequest(photo_id=photo.photo_id), metadata=auth(token))
    assert not any(blob_key(photo.photo_id, v) in blob_files(photo_mesh) for v in VARIANTS)


async def test_events_wait_out_a_nats_outage_and_arrive_exactly_once(photo_mesh: Mesh) -> None:
    owner = user_without_account(photo_mesh)
    user, token = owner.user_id, owner.token
    photo_mesh.stop_nats()
    try:
        photos = [await upload(photo_mesh, token, user, make_jpeg(100 + i, 80), title=f"p{i}") for i in range(6)]
        gone = photos[0].photo_id
        await stub(photo_mesh).DeletePhoto(photo_pb2.DeletePhotoRequest(photo_id=gone), metadata=auth(token))
        await asyncio.sleep(2)  # the relay tries, fails and backs off meanwhile
    finally:
        photo_mesh.start_nats()
    posted_ids = sorted(p.photo_id for p in photos)

    async def all_posted() -> bool:
        return sorted(set(await events_for(photo_mesh, events_pb2.PhotoPosted, user))) == posted_ids

    await eventually(all_posted, timeout=60)
    await asyncio.sleep(3)  # room for a late duplicate to show up
    assert sorted(await events_for(photo_mesh, events_pb2.PhotoPosted, user)) == posted_ids
    assert await events_for(photo_mesh, events_pb2.PhotoDeleted, user) == [gone]


async def test_user_deleted_removes_their_photos_and_announces_each(photo_mesh: Mesh) -> None:
    owner, neighbour = user_without_account(photo_mesh), user_without_account(photo_mesh)
    user = owner.user_id
    mine = [await upload(photo_mesh, owner.token, user, make_jpeg(50, 50 + i)) for i in range(3)]
    theirs = await upload(photo_mesh, neighbour.token, neighbour.user_id, make_jpeg(50, 50))
    event = events_pb2.UserDeleted(meta=new_meta(IdGenerator(1), "user"), user_id=user)
    client = await nats.connect(photo_mesh.settings.nats_url)
    try:
        for _ in range(2):  # a redelivered event changes nothing
            await client.jetstream().publish(
                SUBJECTS[events_pb2.UserDeleted], event.SerializeToString(), headers={"Nats-Msg-Id": uuid.uuid4().hex}
            )
    finally:
        await client.close()

    async def emptied() -> bool:
        return await user_photo_ids(photo_mesh, user) == []

    await eventually(emptied, timeout=30)
    assert await user_photo_ids(photo_mesh, neighbour.user_id) == [theirs.photo_id]
    files = blob_files(photo_mesh)
    assert not any(blob_key(p.photo_id, v) in files for p in mine for v in VARIANTS)

    async def announced() -> bool:
        return sorted(await events_for(photo_mesh, events_pb2.PhotoDeleted, user)) == sorted(p.photo_id for p in mine)

    await eventually(announced, timeout=30)


async def test_every_acknowledged_upload_survives_sigkill(photo_mesh: Mesh) -> None:
    owner = user_without_account(photo_mesh)
    user, token = owner.user_id, owner.token
    acknowledged: dict[int, str] = {}
    failures: list[tuple[grpc.StatusCode, str]] = []
    enough = asyncio.Event()
    gate = asyncio.Semaphore(4)

    async def one(index: int) -> None:
        data = make_jpeg(400 + index, 300)
        async with gate:
            try:
                photo = await upload(photo_mesh, token, user, data, title=f"burst {index}", timeout=20)
            except grpc.aio.AioRpcError as exc:
                failures.append((exc.code(), exc.details() or ""))
                return
        assert photo.sha256 == sha256(data)
        acknowledged[photo.photo_id] = photo.sha256
        if len(acknowledged) >= 10:
            enough.set()

    # Leftovers a crash could leave: a half-staged upload and a blob with no row.
    (photo_dir(photo_mesh) / "tmp" / "stale-upload").mkdir()
    orphan = blob_store(photo_mesh).path(blob_key(999, "original"))
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"uncommitted")

    burst = [asyncio.create_task(one(i)) for i in range(40)]
    await asyncio.wait_for(enough.wait(), timeout=120)
    photo_mesh.stop("photo", signal.SIGKILL)
    await asyncio.gather(*burst)
    # Back before anything is asserted: the tests after this one share the mesh.
    photo_mesh.start_service("photo")
    await photo_mesh.wait_serving("photo")
    await asyncio.wait_for(photo_mesh.channel("photo").channel_ready(), timeout=30)
    assert failures, "the kill should have interrupted some uploads"
    # With what gRPC said, so an unexpected code shows whether the service or the transport gave it.
    assert {code for code, _ in failures} <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}, failures

    for photo_id, digest in acknowledged.items():
        info, body = await download(photo_mesh, token, photo_id)
        assert info.sha256 == digest == sha256(body)
    # Rows committed whose answer the kill swallowed are whole too; nothing else is left behind.
    stored = await user_photo_ids(photo_mesh, user)
    assert set(acknowledged) <= set(stored)
    for photo_id in stored:
        for variant in (photo_pb2.PHOTO_VARIANT_DISPLAY, photo_pb2.PHOTO_VARIANT_THUMBNAIL):
            info, body = await download(photo_mesh, token, photo_id, variant)
            assert sha256(body) == info.sha256
    assert staged_entries(photo_mesh) == []
    assert not orphan.exists()
    assert blob_files(photo_mesh) == {blob_key(p, v) for p in committed_photo_ids(photo_mesh) for v in VARIANTS}

    async def posted_once() -> bool:
        return sorted(await events_for(photo_mesh, events_pb2.PhotoPosted, user)) == sorted(stored)

    await eventually(posted_once, timeout=60)


async def test_the_outbox_backlog_and_its_age_show_in_metrics_during_a_nats_outage(photo_mesh: Mesh) -> None:
    url = photo_mesh.metrics_url("photo")
    unsent, age = "shutter_outbox_unsent_events", "shutter_outbox_oldest_unsent_age_seconds"
    user = user_without_account(photo_mesh)
    photo_mesh.stop_nats()
    try:
        for i in range(3):
            await upload(photo_mesh, user.token, user.user_id, make_jpeg(60 + i, 40))
        stuck = await scrape_until(url, lambda s: s.value(unsent) >= 3)
        assert stuck.value(unsent) >= 3, photo_mesh.log_tail("photo")
        assert stuck.value(age) > 0
        await asyncio.sleep(1.5)
        # The age is computed when scraped: it keeps growing while the relay is stuck.
        assert (await scrape(url)).value(age) >= stuck.value(age) + 1
    finally:
        photo_mesh.start_nats()
    drained = await scrape_until(url, lambda s: s.value(unsent) == 0, timeout=60)
    assert (drained.value(unsent), drained.value(age)) == (0, 0), photo_mesh.log_tail("photo")
