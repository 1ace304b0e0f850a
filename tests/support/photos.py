"""Real small images made with Pillow, and a one-call upload, for any test that needs photos.

data = make_jpeg(64, 48)
photo = await upload(mesh, alice.token, alice.user_id, data, title="beach", tags=["sea"])
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator, Iterable

from PIL import Image

from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh, auth

CHUNK_BYTES = 64 * 1024


def _image(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A gradient, so encoders cannot shrink it to nothing and resizes are visible."""
    vertical = Image.linear_gradient("L").resize((width, height))
    horizontal = Image.linear_gradient("L").rotate(90).resize((width, height))
    bands = [horizontal, vertical, Image.new("L", (width, height), 128), Image.new("L", (width, height), 200)]
    return Image.merge(mode, bands[: len(mode)])


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def make_jpeg(width: int, height: int, exif: Image.Exif | None = None) -> bytes:
    image = _image(width, height)
    return _encode(image, "JPEG", quality=90, **({"exif": exif} if exif is not None else {}))


def make_png(width: int, height: int, alpha: bool = False) -> bytes:
    return _encode(_image(width, height, "RGBA" if alpha else "RGB"), "PNG")


def make_webp(width: int, height: int) -> bytes:
    return _encode(_image(width, height), "WEBP", quality=90)


def make_gif(width: int, height: int, frames: int = 2) -> bytes:
    images = [_image(width, height).rotate(15 * i).convert("P") for i in range(frames)]
    return _encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def gps_exif(orientation: int = 1) -> Image.Exif:
    """EXIF with a GPS position (a privacy leak if served) and an orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "ShutterTestCam"  # Make
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})  # GPSInfo
    return exif


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metadata(
    user_id: int,
    title: str = "",
    tags: Iterable[str] = (),
    location: str = "",
    idempotency_key: str = "",
) -> photo_pb2.PhotoMetadata:
    return photo_pb2.PhotoMetadata(
        user_id=user_id, title=title, tags=list(tags), location=location, idempotency_key=idempotency_key
    )


async def requests(
    meta: photo_pb2.PhotoMetadata | None, data: bytes, chunk_bytes: int = CHUNK_BYTES
) -> AsyncIterator[photo_pb2.UploadPhotoRequest]:
    """The upload stream: metadata (when given), then the bytes in chunks."""
    if meta is not None:
        yield photo_pb2.UploadPhotoRequest(metadata=meta)
    for start in range(0, len(data), chunk_bytes):
        yield photo_pb2.UploadPhotoRequest(chunk=data[start : start + chunk_bytes])


async def upload_response(
    mesh: Mesh,
    token: str,
    user_id: int,
    data: bytes,
    *,
    title: str = "",
    tags: Iterable[str] = (),
    location: str = "",
    idempotency_key: str = "",
    timeout: float = 30,
) -> photo_pb2.UploadPhotoResponse:
    stub = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    meta = metadata(user_id, title, tags, location, idempotency_key)
    return await stub.UploadPhoto(requests(meta, data), metadata=auth(token), timeout=timeout)


async def upload(
    mesh: Mesh,
    token: str,
    user_id: int,
    data: bytes,
    *,
    title: str = "",
    tags: Iterable[str] = (),
    location: str = "",
    idempotency_key: str = "",
    timeout: float = 30,
) -> photo_pb2.Photo:
    """Upload `data` as `user_id` and return the stored photo."""
    response = await upload_response(
        mesh,
        token,
        user_id,
        data,
        title=title,
        tags=tags,
        location=location,
        idempotency_key=idempotency_key,
        timeout=timeout,
    )
    return response.photo


async def download(
    mesh: Mesh, token: str, photo_id: int, variant: int = photo_pb2.PHOTO_VARIANT_ORIGINAL, timeout: float = 30
) -> tuple[photo_pb2.ContentInfo, bytes]:
    """The content info and the whole byte stream of one variant."""
    stub = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    info = photo_pb2.ContentInfo()
    body = bytearray()
    async for message in stub.DownloadPhoto(
        photo_pb2.DownloadPhotoRequest(photo_id=photo_id, variant=variant), metadata=auth(token), timeout=timeout
    ):
        if message.WhichOneof("payload") == "info":
            info = message.info
        else:
            body += message.chunk
    return info, bytes(body)
