"""The process pool that does the CPU-bound image work, so the event loop keeps answering RPCs.

Workers are spawned, not forked: forking a process that runs gRPC's threads is unsafe.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from prometheus_client import Histogram

from services.photo import imaging
from services.runtime.errors import Unavailable

log = logging.getLogger("shutter.photo.workers")

IMAGE_SECONDS = Histogram(
    "shutter_photo_image_processing_seconds",
    "Time to decode an upload and render its variants in a worker process, waiting for a worker included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class ImagePool:
    """Image workers, `nice`r than the services: decoding an upload takes tens of milliseconds of CPU, and on
    cores the services share, a worker at their priority holds up the views and reads running beside it
    (their p99). An upload can wait those milliseconds; the scheduler still gives idle cores to the workers."""

    def __init__(self, workers: int, max_pixels: int, nice: int = 0) -> None:
        self._workers = max(workers, 1)
        self._max_pixels = max_pixels
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=imaging.start_worker,
            initargs=(os.getpid(), self._nice),
        )

    def worker_pids(self) -> list[int]:
        """The workers' process ids (none before start)."""
        return [] if self._pool is None else [process.pid for process in self._pool._processes.values()]

    async def start(self) -> None:
        self._pool = self._new_pool()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, imaging.warm_up) for _ in range(self._workers)))

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    async def render(self, source: str, out_dir: str) -> imaging.Rendered:
        """Decode and render in a worker; a worker that died (out of memory, say) is replaced."""
        assert self._pool is not None, "image pool not started"
        pool = self._pool
        try:
            with IMAGE_SECONDS.time():
                return await asyncio.get_running_loop().run_in_executor(
                    pool, imaging.render, source, out_dir, self._max_pixels
                )
        except BrokenProcessPool as exc:
            log.error("image worker died; starting a new pool")
            if self._pool is pool:
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise Unavailable("image processing failed; retry the upload") from exc
