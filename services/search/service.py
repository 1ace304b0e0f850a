"""SearchService handlers. Not built yet: every RPC answers UNIMPLEMENTED."""

from __future__ import annotations

from services.runtime.server import Runtime
from shutter.search.v1 import search_pb2, search_pb2_grpc


class SearchService(search_pb2_grpc.SearchServiceServicer):
    """Inherits the generated UNIMPLEMENTED answers until the search issue lands."""


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        search_pb2_grpc.add_SearchServiceServicer_to_server,
        SearchService(),
        search_pb2.DESCRIPTOR.services_by_name["SearchService"],
    )
