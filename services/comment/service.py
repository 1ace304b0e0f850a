"""CommentService handlers. Not built yet: every RPC answers UNIMPLEMENTED."""

from __future__ import annotations

from services.runtime.server import Runtime
from shutter.comment.v1 import comment_pb2, comment_pb2_grpc


class CommentService(comment_pb2_grpc.CommentServiceServicer):
    """Inherits the generated UNIMPLEMENTED answers until the comment issue lands."""


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        comment_pb2_grpc.add_CommentServiceServicer_to_server,
        CommentService(),
        comment_pb2.DESCRIPTOR.services_by_name["CommentService"],
    )
