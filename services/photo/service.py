"""PhotoService handlers. Not built yet: every RPC answers UNIMPLEMENTED."""

from __future__ import annotations

from services.runtime.server import Runtime
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc


class PhotoService(photo_pb2_grpc.PhotoServiceServicer):
    """Inherits the generated UNIMPLEMENTED answers until the photo issue lands."""


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        photo_pb2_grpc.add_PhotoServiceServicer_to_server,
        PhotoService(),
        photo_pb2.DESCRIPTOR.services_by_name["PhotoService"],
    )
