"""The sweep of blobs no committed photo refers to.

Blobs are written before their row, so a crash (or a failed commit whose clean-up also failed)
can leave blobs without a row, and a crash right after a delete's commit leaves the deleted
photo's blobs. Nothing else can reach them, so they are removed. Which keys to judge is the blob
store's call (BlobStore.sweep_candidates): the filesystem store, private to its process, offers
every file at start-up; the CQL store offers keys written long enough ago that no upload can still
be committing them. The sweep runs at start-up and, when `interval_seconds` is set (a store shared
with other replicas that keeps accumulating candidates), periodically after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.photo.blobs import BlobStore, photo_id_of
from services.photo.store import PhotoStore

log = logging.getLogger("shutter.photo.sweeper")


class OrphanSweeper:
    def __init__(self, store: PhotoStore, blobs: BlobStore, interval_seconds: float | None = None) -> None:
        self._store = store
        self._blobs = blobs
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.sweep()
        if self._interval is not None:
            self._task = asyncio.create_task(self._every_interval(self._interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _every_interval(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.sweep()
            except Exception:  # the next round retries: candidates stay until judged
                log.exception("orphan sweep failed")

    async def sweep(self) -> int:
        """Delete unreferenced blobs among the candidates; returns how many."""
        swept = 0
        async for keys in self._blobs.sweep_candidates():
            owners = {key: photo_id_of(key) for key in keys}
            referenced = await self._store.existing(sorted({pid for pid in owners.values() if pid is not None}))
            orphans = [key for key, pid in owners.items() if pid not in referenced]
            for key in orphans:
                await self._blobs.delete(key)
            swept += len(orphans)
        if swept:
            log.info("swept orphan blobs", extra={"count": swept})
        return swept
