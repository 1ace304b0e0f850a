"""The search index's repository interface: documents, posting lists and tombstones, backend-neutral.

A photo is filed under its terms (posting lists keyed by term, newest photo first) and kept as a
document that answers hits without calling the photo service. A deleted photo leaves a tombstone so
that a late or redelivered PhotoPosted never brings it back (photo ids are never reused). Each
document carries the edit it reflects (`edited_at_ms`, 0 as posted), so a late or redelivered
PhotoPosted, or an older PhotoEdited, never puts back words a newer edit replaced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.runtime.normalise import Term
from services.runtime.stores import Storage

STORAGE = Storage(
    sqlite="services.search.sqlite:SqliteSearchStore",
    cql="services.search.cql:CqlSearchStore",
    tombstones=True,
)


@dataclass(frozen=True)
class IndexedPhoto:
    """What a hit shows: the photo's searchable metadata as of its latest edit filed."""

    photo_id: int
    user_id: int
    title: str
    location: str
    tags: tuple[str, ...]
    created_at_ms: int
    # The version of the words: the photo service's edit time (strictly increasing per photo), 0 as posted.
    edited_at_ms: int = 0


class SearchStore(Protocol):
    async def index_photo(self, photo: IndexedPhoto, terms: Sequence[Term]) -> bool:
        """File `photo` under exactly `terms` (replacing earlier terms) unless a newer edit of it is filed.

        False when nothing was filed: the photo is tombstoned, or the index holds a later `edited_at_ms`.
        An equal one is filed again (a redelivery, or the reindex re-filing with today's normalisation)."""
        ...

    async def remove_photo(self, photo_id: int) -> None:
        """Tombstone the photo and drop it from every posting list (idempotent; works before its post)."""
        ...

    async def search(self, terms: Sequence[Term], before_photo_id: int | None, limit: int) -> list[IndexedPhoto]:
        """Photos filed under every one of `terms`, photo_id descending, below `before_photo_id`."""
        ...

    async def user_photo_ids(self, user_id: int, below_photo_id: int) -> list[int]:
        """Indexed photo ids of one user below a watermark (the reindex reconciles them with photo)."""
        ...

    def indexed_user_ids(self, page_size: int = 1000) -> AsyncIterator[int]:
        """Every user with indexed photos, once each, in no promised order (the reindex visits them all).

        No order, because CQL enumerates partitions in token order; read `page_size` at a time."""
        ...
