"""UserService handlers. Not built yet: every RPC answers UNIMPLEMENTED."""

from __future__ import annotations

from services.runtime.server import Runtime
from shutter.user.v1 import user_pb2, user_pb2_grpc


class UserService(user_pb2_grpc.UserServiceServicer):
    """Inherits the generated UNIMPLEMENTED answers until the user issue lands."""


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        user_pb2_grpc.add_UserServiceServicer_to_server,
        UserService(),
        user_pb2.DESCRIPTOR.services_by_name["UserService"],
    )
