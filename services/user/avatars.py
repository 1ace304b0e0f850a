"""Profile pictures: an upload stream in, square 320 px and 150 px JPEGs out, kept in the user store.

The image is decoded with a closed list of Pillow decoders (never by a claimed type), turned upright
(EXIF orientation), centre-cropped to a square and re-encoded from bare pixels, so no EXIF (GPS, camera
serials) survives. The renditions are a few dozen KB, so they live beside the profile, not in a blob store.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from collections.abc import AsyncIterator

from PIL import Image, ImageOps

from services.runtime.errors import InvalidArgument, ResourceExhausted
from services.user.store import AvatarImage
from shutter.user.v1 import user_pb2

LARGE = 320
SMALL = 150
SIZES = {user_pb2.AVATAR_SIZE_LARGE: LARGE, user_pb2.AVATAR_SIZE_SMALL: SMALL}
MAX_AVATAR_BYTES = 10 * 1024 * 1024
MAX_AVATAR_PIXELS = 40_000_000
_FORMATS = ["JPEG", "PNG", "WEBP", "GIF"]


def square_renditions(data: bytes, max_pixels: int = MAX_AVATAR_PIXELS) -> dict[int, AvatarImage]:
    """The picture centre-cropped to squares of LARGE and SMALL pixels; ValueError for what is not an image."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
                image.load()
                upright = ImageOps.exif_transpose(image).convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ValueError(f"the image has more than {max_pixels} pixels") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ValueError("not a complete JPEG, PNG, WebP or GIF image") from exc
    renditions: dict[int, AvatarImage] = {}
    for size in (LARGE, SMALL):
        square = ImageOps.fit(upright, (size, size), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        bare = Image.frombytes(square.mode, square.size, square.tobytes())
        encoded = io.BytesIO()
        bare.save(encoded, format="JPEG", quality=88, optimize=True)
        body = encoded.getvalue()
        renditions[size] = AvatarImage("image/jpeg", body, hashlib.sha256(body).hexdigest())
    return renditions


async def read_upload(requests: AsyncIterator[user_pb2.UploadAvatarRequest]) -> tuple[int, bytes]:
    """The metadata's user_id (0: the caller) and the bytes, refused past MAX_AVATAR_BYTES."""
    user_id = -1
    body = bytearray()
    async for request in requests:
        kind = request.WhichOneof("payload")
        if user_id < 0:
            if kind != "metadata":
                raise InvalidArgument("metadata", "the first message must carry the metadata")
            user_id = request.metadata.user_id
            continue
        if kind != "chunk":
            raise InvalidArgument("metadata", "only the first message may carry metadata")
        body += request.chunk
        if len(body) > MAX_AVATAR_BYTES:
            raise ResourceExhausted(f"a profile picture is at most {MAX_AVATAR_BYTES} bytes")
    if user_id < 0:
        raise InvalidArgument("metadata", "the first message must carry the metadata")
    if not body:
        raise InvalidArgument("chunk", "the upload carried no image bytes")
    return user_id, bytes(body)


async def render(data: bytes) -> dict[int, AvatarImage]:
    """square_renditions off the event loop (Pillow does its work without the GIL for the most part)."""
    try:
        return await asyncio.to_thread(square_renditions, data)
    except ValueError as exc:
        raise InvalidArgument("chunk", str(exc)) from exc


def avatar_url(user_id: int, version: int, size: user_pb2.AvatarSize.ValueType) -> str:
    """The gateway path of one rendition; the version changes with every upload, so caches never go stale."""
    name = user_pb2.AvatarSize.Name(size)
    return f"/v1/users/{user_id}/avatar?size={name}&v={version}"
