"""A service process whose one RPC takes a while, for testing graceful shutdown for real.

It runs through the shared runtime exactly like a real service, answering ViewPhoto after
SHUTTER_TEST_DELAY_SECONDS (awaited) plus SHUTTER_TEST_BLOCK_SECONDS of work that holds the event
loop, as a CPU-bound handler does: while it runs, calls that arrive wait inside gRPC for the loop.
"""

from __future__ import annotations

import asyncio
import os
import time

from services.runtime.server import Runtime, run_service
from shutter.view.v1 import view_pb2, view_pb2_grpc


class SlowView(view_pb2_grpc.ViewServiceServicer):
    def __init__(self) -> None:
        self._delay = float(os.environ.get("SHUTTER_TEST_DELAY_SECONDS", "1"))
        self._block = float(os.environ.get("SHUTTER_TEST_BLOCK_SECONDS", "0"))

    async def ViewPhoto(self, request: view_pb2.ViewPhotoRequest, context: object) -> view_pb2.ViewPhotoResponse:
        await asyncio.sleep(self._delay)
        if self._block:
            time.sleep(self._block)
        return view_pb2.ViewPhotoResponse()


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        view_pb2_grpc.add_ViewServiceServicer_to_server, SlowView(), view_pb2.DESCRIPTOR.services_by_name["ViewService"]
    )


if __name__ == "__main__":
    # No NATS in this test double, so no deleted-users list (real services always have one).
    run_service("view", build, refuse_deleted_users=False)
