"""What other services need from the photo service, in one place: the photo, or NOT_FOUND."""

from __future__ import annotations

import grpc

from services.runtime.errors import NotFound
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc


async def existing_photo(photos: photo_pb2_grpc.PhotoServiceStub, photo_id: int) -> photo_pb2.Photo:
    """The photo, or NotFound; UNAVAILABLE and other failures pass through to the caller's status."""
    try:
        reply = await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo_id))
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            raise NotFound(f"photo {photo_id} not found") from exc
        raise
    return reply.photo
