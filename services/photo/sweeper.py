"""Start-up sweep of blobs no committed photo refers to.

Blobs are written before their row, so a crash (or a failed commit whose clean-up also failed)
can leave blobs without a row, and a crash right after a delete's commit leaves the deleted
photo's blobs. Nothing else can reach them, so they are removed before the service serves.
This store is private to the process, so at start-up no upload is in flight and every
unreferenced blob is garbage.
"""

from __future__ import annotations

import logging

from services.photo.blobs import BlobStore, photo_id_of
from services.photo.store import PhotoStore

log = logging.getLogger("shutter.photo.sweeper")


class OrphanSweeper:
    def __init__(self, store: PhotoStore, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs

    async def start(self) -> None:
        await self.sweep()

    async def stop(self) -> None:
        return None

    async def sweep(self) -> int:
        """Delete unreferenced blobs; returns how many."""
        keys = await self._blobs.keys()
        owners = {key: photo_id_of(key) for key in keys}
        referenced = await self._store.existing(sorted({pid for pid in owners.values() if pid is not None}))
        orphans = [key for key, pid in owners.items() if pid not in referenced]
        for key in orphans:
            await self._blobs.delete(key)
        if orphans:
            log.info("swept orphan blobs", extra={"count": len(orphans)})
        return len(orphans)
