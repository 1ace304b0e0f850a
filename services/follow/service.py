"""FollowService handlers. Not built yet: every RPC answers UNIMPLEMENTED."""

from __future__ import annotations

from services.runtime.server import Runtime
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc


class FollowService(follow_pb2_grpc.FollowServiceServicer):
    """Inherits the generated UNIMPLEMENTED answers until the follow issue lands."""


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        follow_pb2_grpc.add_FollowServiceServicer_to_server,
        FollowService(),
        follow_pb2.DESCRIPTOR.services_by_name["FollowService"],
    )
