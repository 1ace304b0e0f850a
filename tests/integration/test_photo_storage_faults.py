"""A fault of the photo service's own storage is the server's, never the client's broken image.

Over real gRPC, the photo service's data directory is a real, small tmpfs: filled up so staging cannot
write the upload, filled so staging fits but the variants do not (the issue's ENOSPC "not a complete
JPEG"), then with its staging directory read-only (EROFS). Each answers RESOURCE_EXHAUSTED or UNAVAILABLE with one
ERROR log line, writes nothing, and the service serves again as soon as the disk does. Mounting needs
root; without it these are skipped (the kernel-ENOSPC unit tests in test_photo_imaging.py and the
SQLite test below still run). A full SQLite database ("database or disk is full") is shown with SQLite's
own limit, max_page_count, on the real uploader, store, blob store and image workers.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from services.photo.blobs import FilesystemBlobStore
from services.photo.settings import DEFAULT_MAX_PIXELS
from services.photo.sqlite import SqlitePhotoStore
from services.photo.staging import Staging
from services.photo.store import STORAGE
from services.photo.uploads import Uploader
from services.photo.workers import ImagePool
from services.runtime import callctx
from services.runtime.errors import ResourceExhausted
from services.runtime.ids import IdGenerator
from services.runtime.sqlite import Database
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, metadata, requests, upload_response
from tests.support.users import Identity, user_without_account

pytestmark = pytest.mark.slow

USER = 7_700_001  # one uploader for the whole module; the photo-only mesh has no user service to sign up with
TMPFS_BYTES = 4 * 1024 * 1024
PAGE = 4096


@pytest.fixture(scope="module")
def photo_tmpfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The workdir of a mesh whose photo data directory (data/photo) is a 4 MB tmpfs."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the /dev/full and SQLite tests cover the rest")
    workdir = tmp_path_factory.mktemp("full-disk")
    mount_point = workdir / "data" / "photo"
    mount_point.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mount_point)], check=True)
    try:
        yield workdir
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture(scope="module")
async def full_disk_mesh(photo_tmpfs: Path) -> AsyncIterator[Mesh]:
    async with Mesh(photo_tmpfs, services=("photo",)) as running:
        yield running


def owner(mesh: Mesh) -> Identity:
    return user_without_account(mesh, USER)


def photo_dir(mesh: Mesh) -> Path:
    return mesh.settings.data_dir / "photo"


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(mesh: Mesh, leave: int) -> Path:
    """Write a filler file that leaves `leave` bytes (rounded to pages) free on the photo tmpfs."""
    filler = photo_dir(mesh) / "filler"
    filler.unlink(missing_ok=True)
    size = max(free_bytes(photo_dir(mesh)) - leave, 0) // PAGE * PAGE
    with open(filler, "wb") as handle:
        handle.write(b"\0" * size)
    assert abs(free_bytes(photo_dir(mesh)) - leave) <= PAGE
    return filler


def storage_fault_lines(mesh: Mesh) -> list[dict[str, object]]:
    lines = (mesh.logs / "photo.log").read_text(errors="replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [entry for entry in entries if entry.get("msg") in {"storage fault", "unhandled error"}]


async def listed(mesh: Mesh) -> list[int]:
    reply = await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=USER), metadata=owner(mesh).metadata, timeout=10
    )
    return [photo.photo_id for photo in reply.photos]


async def refused_upload(mesh: Mesh, data: bytes) -> grpc.aio.AioRpcError:
    logged = len(storage_fault_lines(mesh))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload_response(mesh, owner(mesh).token, USER, data, title="valid jpeg")
    details = caught.value.details() or ""
    assert "JPEG" not in details and "image" not in details, details  # never blamed on the input
    new_lines = storage_fault_lines(mesh)[logged:]
    assert [(line["level"], line["msg"]) for line in new_lines] == [("error", "storage fault")]  # logged once
    assert "exc" not in new_lines[0]  # a cause, not a traceback
    # Nothing written: no photo, no blob, no staged file left behind.
    assert await listed(mesh) == []
    assert list((photo_dir(mesh) / "blobs").glob("*/*")) == []
    assert list((photo_dir(mesh) / "tmp").iterdir()) == []
    return caught.value


async def test_no_room_to_stage_the_upload_is_resource_exhausted(full_disk_mesh: Mesh) -> None:
    filler = fill(full_disk_mesh, leave=0)
    try:
        error = await refused_upload(full_disk_mesh, make_jpeg(1200, 900))
    finally:
        filler.unlink()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()


async def test_no_room_for_the_variants_of_a_valid_jpeg_is_resource_exhausted(full_disk_mesh: Mesh) -> None:
    data = make_jpeg(2000, 1500)
    filler = fill(full_disk_mesh, leave=(len(data) + PAGE - 1) // PAGE * PAGE + PAGE)  # the original fits, no more
    try:
        error = await refused_upload(full_disk_mesh, data)
    finally:
        filler.unlink()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    assert storage_fault_lines(full_disk_mesh)[-1]["errno"] == "ENOSPC"


async def test_a_read_only_disk_is_unavailable(full_disk_mesh: Mesh) -> None:
    # The database is open for writing, so the tmpfs cannot be remounted read-only: the staging directory
    # is, through a read-only bind mount of itself (the kernel answers EROFS there just the same).
    staging = str(photo_dir(full_disk_mesh) / "tmp")
    subprocess.run(["mount", "--bind", staging, staging], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", staging], check=True)
        error = await refused_upload(full_disk_mesh, make_jpeg(64, 48))
    finally:
        subprocess.run(["umount", staging], check=True)
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
    assert storage_fault_lines(full_disk_mesh)[-1]["errno"] == "EROFS"


async def test_uploads_work_again_once_the_disk_has_room(full_disk_mesh: Mesh) -> None:
    uploaded = await upload_response(full_disk_mesh, owner(full_disk_mesh).token, USER, make_jpeg(2000, 1500))
    assert uploaded.created
    assert await listed(full_disk_mesh) == [uploaded.photo.photo_id]


async def test_a_full_sqlite_database_is_resource_exhausted_and_keeps_no_blobs(tmp_path: Path) -> None:
    database = Database(tmp_path / "photo.db", STORAGE.sqlite_schema())
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    staging = Staging(tmp_path / "tmp")
    images = ImagePool(1, DEFAULT_MAX_PIXELS)
    parts = (database, blobs, staging, images)
    for part in parts:
        await part.start()
    try:
        store = SqlitePhotoStore(database)
        uploader = Uploader(store, blobs, staging, images, IdGenerator(5), "photo")
        callctx.bind(callctx.Principal(token="test", user_id=USER), "full-db", None)
        # Rows of ~3.5 KB: the first fills its table's page, so the second needs a page SQLite may not add.
        big = metadata(USER, title="t" * 300, tags=[f"{n:02d}" + "x" * 98 for n in range(30)])
        first, _ = await uploader.upload(requests(big, make_jpeg(64, 48)))
        blobs_before = set(await blobs.keys())
        pages = await database.read(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
        await database.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))

        with pytest.raises(ResourceExhausted, match="out of storage space"):
            await uploader.upload(requests(big, make_jpeg(64, 48)))

        assert [p.photo_id for p in await store.list_by_user(USER, None, 10)] == [first.photo_id]
        assert set(await blobs.keys()) == blobs_before  # the failed upload's blobs were deleted
        assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        for part in reversed(parts):
            await part.stop()
