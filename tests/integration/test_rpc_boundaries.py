"""What the runtime's server interceptor answers at the edges of an RPC, over real gRPC: a request that is
not protobuf, a peer that is down, a client that walks away from a stream. No internals leak and
nothing a client does on purpose is logged as an error."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import grpc
import pytest
from PIL import Image

from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import upload

GARBAGE = b"\xff\xff\xff\xff"  # a field tag whose varint never ends: not a protobuf message


def _no_internals(details: str | None) -> None:
    text = details or ""
    for leak in ("<class", "DecodeError", "google.protobuf", "Traceback", "ipv4:", "127.0.0.1"):
        assert leak not in text, text


async def test_a_request_that_is_not_protobuf_is_invalid_argument(mesh: Mesh) -> None:
    token = mesh.user_token(1)
    call = mesh.channel("view").unary_unary("/shutter.view.v1.ViewService/ViewPhoto")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(GARBAGE, metadata=auth(token), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert "shutter.view.v1.ViewPhotoRequest" in (caught.value.details() or "")
    _no_internals(caught.value.details())


async def test_a_stream_message_that_is_not_protobuf_is_invalid_argument(mesh: Mesh) -> None:
    token = mesh.user_token(1)
    call = mesh.channel("photo").stream_unary("/shutter.photo.v1.PhotoService/UploadPhoto")

    async def messages():  # type: ignore[no-untyped-def]
        yield GARBAGE

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(messages(), metadata=auth(token), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    _no_internals(caught.value.details())


@pytest.mark.slow
async def test_a_peer_that_is_down_is_named_not_addressed(tmp_path: Path) -> None:
    """like alone (photo never started, no NATS either): LikePhoto's UNAVAILABLE, passed through from the
    photo lookup, names photo and not the address gRPC failed to connect to."""
    lone = Mesh(tmp_path, services=("like",))
    try:
        lone.start_service("like")
        await lone.wait_serving("like", timeout=60)
        stub = like_pb2_grpc.LikeServiceStub(lone.channel("like"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.LikePhoto(
                like_pb2.LikePhotoRequest(photo_id=1, user_id=1), metadata=auth(lone.user_token(1)), timeout=15
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert caught.value.details() == "photo is unavailable"
    finally:
        await lone.close()


def _noise_jpeg(width: int, height: int) -> bytes:
    """Noise does not compress: a photo of many download chunks."""
    out = io.BytesIO()
    Image.effect_noise((width, height), 100).convert("RGB").save(out, format="JPEG", quality=95)
    return out.getvalue()


def _log_lines_since(path: Path, offset: int) -> list[dict[str, object]]:
    with open(path, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _is_download_rpc(line: dict[str, object]) -> bool:
    return line.get("msg") == "rpc" and str(line.get("method", "")).endswith("/DownloadPhoto")


async def test_a_client_cancelling_a_download_is_logged_as_cancelled_not_as_an_error(mesh: Mesh) -> None:
    owner = 424242
    token = mesh.user_token(owner)
    data = _noise_jpeg(1600, 1200)
    assert len(data) > 8 * 64 * 1024
    photo = await upload(mesh, token, owner, data)
    log_path = mesh.logs / "photo.log"
    stub = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))

    for _ in range(5):  # the client walks away at different points of the stream
        mark = log_path.stat().st_size
        call = stub.DownloadPhoto(
            photo_pb2.DownloadPhotoRequest(photo_id=photo.photo_id, variant=photo_pb2.PHOTO_VARIANT_ORIGINAL),
            metadata=auth(token),
            timeout=30,
        )
        first = await call.read()
        assert first.HasField("info")
        call.cancel()

        deadline = time.monotonic() + 10
        while True:
            lines = _log_lines_since(log_path, mark)
            downloads = [line for line in lines if _is_download_rpc(line)]
            if downloads or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything the cancelled stream's clean-up would log comes right after
        lines = _log_lines_since(log_path, mark)
        assert [line["status"] for line in lines if _is_download_rpc(line)] == ["CANCELLED"], lines
        errors = [line for line in lines if line.get("level") in ("error", "critical")]
        assert errors == [], errors
