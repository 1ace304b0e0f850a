"""FeedService handlers. Not built yet: every RPC answers UNIMPLEMENTED."""

from __future__ import annotations

from services.runtime.server import Runtime
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc


class FeedService(feed_pb2_grpc.FeedServiceServicer):
    """Inherits the generated UNIMPLEMENTED answers until the feed issue lands."""


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        feed_pb2_grpc.add_FeedServiceServicer_to_server,
        FeedService(),
        feed_pb2.DESCRIPTOR.services_by_name["FeedService"],
    )
