"""What other services need from the photo service, in one place: the photo, or NOT_FOUND."""

from __future__ import annotations

from shutter.photo.v1 import photo_pb2, photo_pb2_grpc


async def existing_photo(photos: photo_pb2_grpc.PhotoServiceStub, photo_id: int) -> photo_pb2.Photo:
    """The photo; NotFound, Unavailable… as the stub (services.runtime.channels) raises the photo service's answer."""
    return (await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo_id))).photo


async def visible_photo_ids(photos: photo_pb2_grpc.PhotoServiceStub, photo_ids: list[int]) -> set[int]:
    """Which of these photos exist and the caller may see: asked as the caller, the photo service applies the
    visibility policy (services.runtime.visibility) and leaves the others out."""
    if not photo_ids:
        return set()
    reply = await photos.BatchGetPhotos(photo_pb2.BatchGetPhotosRequest(photo_ids=photo_ids))
    return {photo.photo_id for photo in reply.photos}
