"""ViewService handlers. Not built yet: every RPC answers UNIMPLEMENTED."""

from __future__ import annotations

from services.runtime.server import Runtime
from shutter.view.v1 import view_pb2, view_pb2_grpc


class ViewService(view_pb2_grpc.ViewServiceServicer):
    """Inherits the generated UNIMPLEMENTED answers until the view issue lands."""


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        view_pb2_grpc.add_ViewServiceServicer_to_server,
        ViewService(),
        view_pb2.DESCRIPTOR.services_by_name["ViewService"],
    )
