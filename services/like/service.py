"""LikeService handlers. Not built yet: every RPC answers UNIMPLEMENTED."""

from __future__ import annotations

from services.runtime.server import Runtime
from shutter.like.v1 import like_pb2, like_pb2_grpc


class LikeService(like_pb2_grpc.LikeServiceServicer):
    """Inherits the generated UNIMPLEMENTED answers until the like issue lands."""


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        like_pb2_grpc.add_LikeServiceServicer_to_server,
        LikeService(),
        like_pb2.DESCRIPTOR.services_by_name["LikeService"],
    )
