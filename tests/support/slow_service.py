"""A service process whose one RPC takes a while, for testing graceful shutdown for real.

It runs through the shared runtime exactly like a real service, answering ViewPhoto after
SHUTTER_TEST_DELAY_SECONDS (awaited) plus SHUTTER_TEST_BLOCK_SECONDS of work that holds the event
loop, as a CPU-bound handler does: while it runs, calls that arrive wait inside gRPC for the loop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from services.runtime.server import Runtime, run_service
from services.runtime.settings import Section, setting
from shutter.view.v1 import view_pb2, view_pb2_grpc


@dataclass(frozen=True)
class SlowSettings(Section):
    """The slow test double (declared like any process's settings, so its variables are not warned about)."""

    PROCESS = "tests"

    delay_seconds: float = setting("SHUTTER_TEST_DELAY_SECONDS", 1.0, "how long ViewPhoto awaits", minimum=0)
    block_seconds: float = setting("SHUTTER_TEST_BLOCK_SECONDS", 0.0, "how long it then holds the loop", minimum=0)


class SlowView(view_pb2_grpc.ViewServiceServicer):
    def __init__(self, settings: SlowSettings) -> None:
        self._delay = settings.delay_seconds
        self._block = settings.block_seconds

    async def ViewPhoto(self, request: view_pb2.ViewPhotoRequest, context: object) -> view_pb2.ViewPhotoResponse:
        await asyncio.sleep(self._delay)
        if self._block:
            time.sleep(self._block)
        return view_pb2.ViewPhotoResponse()


def build(runtime: Runtime) -> None:
    runtime.add_servicer(
        view_pb2_grpc.add_ViewServiceServicer_to_server,
        SlowView(runtime.section(SlowSettings)),
        view_pb2.DESCRIPTOR.services_by_name["ViewService"],
    )


if __name__ == "__main__":
    # No NATS in this test double, so no deleted-users list (real services always have one).
    run_service("view", build, refuse_deleted_users=False)
