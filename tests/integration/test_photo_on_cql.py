"""The real photo service on SHUTTER_STORE=cql, over real gRPC, against the session's Cassandra.

A mesh of its own (nats-server + photo) with its own keyspace. The rows and the bytes are checked in
Cassandra itself, and the service's data directory must hold no database and no blob files, so a
service silently falling back to SQLite or the filesystem fails the test. There is no user service in
it, so the users have tokens but no accounts.
"""

from __future__ import annotations

import grpc
import pytest
from cassandra.cluster import Session

from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.cql_mesh import cql_mesh_fixture
from tests.support.mesh import Mesh, auth
from tests.support.photos import download, make_jpeg, sha256, upload_response
from tests.support.users import user_without_account

DISPLAY = photo_pb2.PHOTO_VARIANT_DISPLAY

cql_mesh = cql_mesh_fixture(services=("photo", "follow"))


async def test_upload_get_download_and_delete_a_photo_on_cql(cql_mesh: Mesh, cql_session: Session) -> None:
    keyspace = cql_mesh.keyspace("photo")
    owner = user_without_account(cql_mesh)
    user, token = owner.user_id, owner.token
    photos = photo_pb2_grpc.PhotoServiceStub(cql_mesh.channel("photo"))
    data = make_jpeg(1600, 1200)  # larger than one 64 KB chunk
    assert len(data) > 64 * 1024

    uploaded = await upload_response(cql_mesh, token, user, data, title="harbour", tags=["sea"], idempotency_key="k1")
    photo = uploaded.photo
    assert uploaded.created and photo.sha256 == sha256(data) and photo.byte_size == len(data)
    retried = await upload_response(cql_mesh, token, user, data, title="harbour", tags=["sea"], idempotency_key="k1")
    assert not retried.created and retried.photo == photo

    got = await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo.photo_id), metadata=auth(token), timeout=10)
    assert got.photo == photo
    listed = await photos.ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=user, page_size=10), metadata=auth(token), timeout=10
    )
    assert [p.photo_id for p in listed.photos] == [photo.photo_id]
    info, body = await download(cql_mesh, token, photo.photo_id)
    assert body == data and info.sha256 == sha256(data) == photo.sha256
    stranger = user_without_account(cql_mesh)
    display_info, display = await download(cql_mesh, stranger.token, photo.photo_id, DISPLAY)
    assert sha256(display) == display_info.sha256 and len(display) == display_info.byte_size

    # Rows and bytes are in Cassandra, and nothing went to SQLite or the filesystem.
    row = cql_session.execute(f"SELECT user_id FROM {keyspace}.photos WHERE photo_id = %s", (photo.photo_id,)).one()
    assert row.user_id == user
    header = cql_session.execute(
        f"SELECT sha256, byte_size, chunk_count FROM {keyspace}.photo_blobs WHERE photo_id = %s AND variant = %s",
        (photo.photo_id, "original"),
    ).one()
    assert (header.sha256, header.byte_size, header.chunk_count) == (sha256(data), len(data), -(-len(data) // 65536))
    assert not list(cql_mesh.workdir.glob("data/**/*.db"))
    assert not [p for p in cql_mesh.workdir.glob("data/photo/blobs/**/*") if p.is_file()]

    await photos.DeletePhoto(photo_pb2.DeletePhotoRequest(photo_id=photo.photo_id), metadata=auth(token), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo.photo_id), metadata=auth(token), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    # DeletePhoto answers after the blobs' delete too: the bytes are gone from the cluster.
    chunks = cql_session.execute(
        f"SELECT chunk_index FROM {keyspace}.photo_blobs WHERE photo_id = %s AND variant = %s",
        (photo.photo_id, "original"),
    ).all()
    assert chunks == [], cql_mesh.log_tail("photo")


async def test_a_retry_while_an_earlier_attempt_may_still_commit_is_unavailable(
    cql_mesh: Mesh, cql_session: Session
) -> None:
    keyspace = cql_mesh.keyspace("photo")
    owner = user_without_account(cql_mesh)
    user, token = owner.user_id, owner.token
    # An attempt that claimed the key a moment ago and has not committed (or died doing so).
    cql_session.execute(
        f"INSERT INTO {keyspace}.upload_keys (user_id, idempotency_key, photo_id, claimed_at_ms)"
        " VALUES (%s, %s, %s, toUnixTimestamp(now()))",
        (user, "k2", 12345),
    )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await upload_response(cql_mesh, token, user, make_jpeg(320, 240), idempotency_key="k2")

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "idempotency_key" in (refused.value.details() or "")
    listed = await photo_pb2_grpc.PhotoServiceStub(cql_mesh.channel("photo")).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=user, page_size=10), metadata=auth(token), timeout=10
    )
    assert list(listed.photos) == []
    # The refused attempt's own bytes were removed: every blob left belongs to a committed photo.
    stored = {
        row.photo_id for row in cql_session.execute(f"SELECT DISTINCT photo_id, variant FROM {keyspace}.photo_blobs")
    }
    committed = {row.photo_id for row in cql_session.execute(f"SELECT photo_id FROM {keyspace}.photos")}
    assert stored <= committed
