"""The image workers: real spawned processes, run nicer than the service that owns them."""

from __future__ import annotations

import os
from pathlib import Path

from services.photo.settings import DEFAULT_MAX_PIXELS
from services.photo.workers import ImagePool
from tests.support.waiting import eventually


def niceness(pid: int) -> int:
    """A process's nice value, from /proc (field 19 of stat, after the parenthesised command name)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[16])


async def test_image_workers_run_nicer_than_their_service() -> None:
    pool = ImagePool(2, DEFAULT_MAX_PIXELS, nice=7)
    await pool.start()
    try:
        workers = pool.worker_pids()
        assert len(workers) == 2
        # Both warm-ups may run on the first worker while the second is still starting: wait for its initializer.
        expected = [niceness(os.getpid()) + 7] * 2

        def every_worker_niced() -> None:
            assert [niceness(pid) for pid in workers] == expected

        await eventually(every_worker_niced, timeout=10)
    finally:
        await pool.stop()


async def test_without_a_nice_value_workers_run_as_their_service() -> None:
    pool = ImagePool(1, DEFAULT_MAX_PIXELS)
    await pool.start()
    try:
        assert [niceness(pid) for pid in pool.worker_pids()] == [niceness(os.getpid())]
    finally:
        await pool.stop()
