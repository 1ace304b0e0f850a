"""Photo store conformance: the same assertions on SQLite and on CQL, through the PhotoStore Protocol.

A photo and its PhotoPosted commit together; get and batch get; profile listings newest first with
keyset pages across CQL's time buckets; idempotency keys (also under concurrent duplicates), refused
for a different request under a used key (its fingerprint differs); delete
with its PhotoDeleted. The CQL-only tests at the end cover what only CQL can get wrong: an upload
that died (or whose commit is still landing) between claiming its idempotency key and committing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.photo.blobs import FilesystemBlobStore, blob_key
from services.photo.cql import CLAIM_LEASE_MS, EDIT_PHOTO, TAKE_MEDIA, CqlPhotoStore, bucket_of
from services.photo.media import MediaExpiry
from services.photo.sqlite import SqlitePhotoStore
from services.photo.store import (
    STORAGE,
    BlobInfo,
    ImageRecord,
    KeyedMedia,
    KeyedUpload,
    KeyInUse,
    KeyReused,
    MediaNotFound,
    MediaRecord,
    MediaTaken,
    PhotoRecord,
    PhotoStore,
    single_image_photo,
)
from services.photo.uploads import VARIANTS
from services.runtime.cql import WRITE_DURABLE, CqlDatabase, Query, applied
from services.runtime.events import decode, new_meta
from services.runtime.ids import SEQUENCE_BITS, IdGenerator, id_timestamp_ms, min_id_at
from services.runtime.outbox import OutboxStore, SqliteOutbox
from services.runtime.outbox_cql import CqlOutbox
from shutter.events.v1 import events_pb2
from tests.conformance.conftest import Databases

ids = IdGenerator(93)
_sequence = iter(range(1, 1 << SEQUENCE_BITS))


def new_photo(
    user_id: int, key: str = "", *, photo_id: int | None = None, tags: tuple[str, ...] = ("a", "b")
) -> PhotoRecord:
    blob = BlobInfo("image/jpeg", 10, "ab" * 32)
    return PhotoRecord(
        photo_id=photo_id or ids.next_id(), user_id=user_id, title="t", location="l", time_stamp_ms=1, tags=tags,
        created_at_ms=int(time.time() * 1000), width=3, height=4, original=blob,
        display=BlobInfo("image/jpeg", 5, "cd" * 32), thumbnail=BlobInfo("image/webp", 2, "ef" * 32),
        idempotency_key=key,
    )  # fmt: skip


def id_days_ago(days: float) -> int:
    """A photo id made `days` ago (unique within the test run), to spread photos over CQL buckets."""
    return min_id_at(int(time.time() * 1000 - days * 86_400_000)) | next(_sequence)


def posted(photo: PhotoRecord) -> events_pb2.PhotoPosted:
    return events_pb2.PhotoPosted(meta=new_meta(ids, "photo"), photo_id=photo.photo_id, user_id=photo.user_id)


def deleted(photo: PhotoRecord) -> events_pb2.PhotoDeleted:
    return events_pb2.PhotoDeleted(meta=new_meta(ids, "photo"), photo_id=photo.photo_id, user_id=photo.user_id)


@dataclass
class Photos:
    store: PhotoStore
    outbox: OutboxStore

    async def create(self, photo: PhotoRecord, fingerprint: str = "request-a") -> tuple[PhotoRecord, bool]:
        return await self.store.create(photo, posted(photo), fingerprint)

    async def events(self) -> list[tuple[str, int]]:
        """(kind, photo_id) of every pending event, oldest first."""
        found = []
        for pending in await self.outbox.pending(1000):
            event = decode(pending.subject, pending.payload)
            found.append((type(event).__name__, event.photo_id))  # type: ignore[attr-defined]
        return found

    async def all_listed(self, user_id: int, page: int) -> list[int]:
        seen: list[int] = []
        cursor = None
        while photos := await self.store.list_by_user(user_id, cursor, page):
            assert len(photos) <= page
            seen.extend(p.photo_id for p in photos)
            cursor = photos[-1].photo_id
        return seen


@pytest.fixture
async def photos(backend: str, databases: Databases) -> Photos:
    if backend == "sqlite":
        database = await databases.sqlite(STORAGE)
        return Photos(SqlitePhotoStore(database), SqliteOutbox(database))
    database = await databases.cql(STORAGE, service="photo")
    outbox = CqlOutbox(database)
    await outbox.start()
    return Photos(CqlPhotoStore(database), outbox)


async def test_create_commits_the_photo_with_its_event(photos: Photos) -> None:
    photo, untagged = new_photo(1), new_photo(1, tags=())

    assert await photos.create(photo) == (photo, True)
    assert await photos.create(untagged) == (untagged, True)

    assert await photos.store.get(photo.photo_id) == photo
    assert await photos.store.get(untagged.photo_id) == untagged  # no tags reads back as (), not None
    assert await photos.store.get(12345) is None
    assert await photos.events() == [("PhotoPosted", photo.photo_id), ("PhotoPosted", untagged.photo_id)]


async def test_get_many_finds_what_exists_and_existing_says_which(photos: Photos) -> None:
    mine = [new_photo(1) for _ in range(3)]
    for photo in mine:
        await photos.create(photo)
    wanted = [mine[2].photo_id, 12345, mine[0].photo_id, mine[2].photo_id]

    found = await photos.store.get_many(wanted)

    assert found == {mine[2].photo_id: mine[2], mine[0].photo_id: mine[0]}
    assert await photos.store.get_many([]) == {}
    assert await photos.store.existing([mine[1].photo_id, 12345]) == {mine[1].photo_id}
    assert await photos.store.existing([]) == set()


async def test_listing_pages_newest_first_across_months_without_skips_or_repeats(photos: Photos) -> None:
    # Photos made over ~5 months (several CQL buckets, one of them emptied by a delete) and another user's.
    ages = [150, 149, 125, 90, 55, 54, 20, 0.5, 0]
    mine = [new_photo(7, photo_id=id_days_ago(days)) for days in ages]
    assert len({bucket_of(p.photo_id) for p in mine}) >= 5
    for photo in [*mine, new_photo(8)]:
        await photos.create(photo)
    gone = mine.pop(3)
    assert bucket_of(gone.photo_id) not in {bucket_of(p.photo_id) for p in mine}  # it was its bucket's only photo
    await photos.store.delete(gone.photo_id, deleted(gone))
    newest_first = [p.photo_id for p in sorted(mine, key=lambda p: p.photo_id, reverse=True)]

    for page in (1, 2, 3, 20):
        assert await photos.all_listed(7, page) == newest_first
    first = await photos.store.list_by_user(7, None, 3)
    assert first == sorted(mine, key=lambda p: p.photo_id, reverse=True)[:3]  # full records
    assert [p.photo_id for p in await photos.store.list_by_user(7, newest_first[4], 2)] == newest_first[5:7]
    assert await photos.store.list_by_user(9, None, 10) == []
    assert await photos.store.count_by_user(7) == len(mine)  # over every bucket, the emptied one too
    assert await photos.store.count_by_user(9) == 0


async def test_a_photo_posted_while_paging_appears_above_the_cursor(photos: Photos) -> None:
    older = [new_photo(5) for _ in range(4)]
    for photo in older:
        await photos.create(photo)
    first_page = await photos.store.list_by_user(5, None, 2)
    newer = new_photo(5)
    await photos.create(newer)

    rest = await photos.store.list_by_user(5, first_page[-1].photo_id, 10)

    assert [p.photo_id for p in first_page + rest] == [p.photo_id for p in reversed(older)]
    assert (await photos.store.list_by_user(5, None, 1))[0] == newer


async def test_an_idempotency_key_gives_the_first_photo_and_no_second_event(photos: Photos) -> None:
    first, retry, other_user = new_photo(1, "k1"), new_photo(1, "k1"), new_photo(2, "k1")

    assert await photos.create(first) == (first, True)
    assert await photos.create(retry) == (first, False)
    assert await photos.create(other_user) == (other_user, True)  # keys are per user

    assert await photos.store.get(retry.photo_id) is None
    assert await photos.store.by_idempotency_key(1, "k1") == KeyedUpload(first, "request-a")
    assert await photos.store.by_idempotency_key(1, "other") is None
    assert await photos.all_listed(1, 10) == [first.photo_id]
    assert await photos.events() == [("PhotoPosted", first.photo_id), ("PhotoPosted", other_user.photo_id)]


async def test_a_used_key_with_a_different_request_is_refused_and_writes_nothing(photos: Photos) -> None:
    first, other_request = new_photo(11, "k"), new_photo(11, "k")
    assert await photos.create(first, "request-a") == (first, True)

    with pytest.raises(KeyReused) as caught:
        await photos.create(other_request, "request-b")

    assert caught.value.photo_id == first.photo_id
    assert await photos.store.get(other_request.photo_id) is None
    assert await photos.store.by_idempotency_key(11, "k") == KeyedUpload(first, "request-a")  # the claim is unchanged
    assert await photos.all_listed(11, 10) == [first.photo_id]
    assert await photos.events() == [("PhotoPosted", first.photo_id)]
    assert await photos.create(new_photo(11, "k"), "request-a") == (first, False)  # the true retry still answers


async def test_concurrent_uploads_with_one_key_and_different_requests_make_one_photo(photos: Photos) -> None:
    attempts = [new_photo(12, "same") for _ in range(4)]

    results = await asyncio.gather(
        *(photos.create(photo, f"request-{n}") for n, photo in enumerate(attempts)), return_exceptions=True
    )

    created = [result for result in results if isinstance(result, tuple)]
    assert [was_created for _, was_created in created] == [True]
    assert all(isinstance(result, KeyReused) for result in results if not isinstance(result, tuple))
    winner = created[0][0]
    assert await photos.all_listed(12, 10) == [winner.photo_id]
    assert await photos.events() == [("PhotoPosted", winner.photo_id)]


async def test_concurrent_uploads_with_one_key_make_one_photo(photos: Photos) -> None:
    attempts = [new_photo(3, "same") for _ in range(5)]

    results = await asyncio.gather(*(photos.create(photo) for photo in attempts))

    assert [created for _, created in results].count(True) == 1
    winner = next(photo for photo, created in results if created)
    assert all(photo == winner for photo, _ in results)
    assert await photos.all_listed(3, 10) == [winner.photo_id]
    assert await photos.events() == [("PhotoPosted", winner.photo_id)]


async def test_delete_removes_photo_listing_and_key_with_one_event(photos: Photos) -> None:
    photo, kept = new_photo(4, "key"), new_photo(4)
    await photos.create(photo)
    await photos.create(kept)

    assert await photos.store.delete(photo.photo_id, deleted(photo)) == photo
    assert await photos.store.delete(photo.photo_id, deleted(photo)) is None  # already gone: no second event

    assert await photos.store.get(photo.photo_id) is None
    assert await photos.store.get_many([photo.photo_id]) == {}
    assert await photos.all_listed(4, 10) == [kept.photo_id]
    assert await photos.store.by_idempotency_key(4, "key") is None
    assert await photos.events() == [
        ("PhotoPosted", photo.photo_id),
        ("PhotoPosted", kept.photo_id),
        ("PhotoDeleted", photo.photo_id),
    ]
    again = new_photo(4, "key")  # the key is free again: a new upload with it makes a new photo
    assert await photos.create(again) == (again, True)


# CQL only: the idempotency claim and the commit are two writes, so an attempt can stop between them.

CLAIM_ONLY = Query(
    "INSERT INTO upload_keys (user_id, idempotency_key, photo_id, claimed_at_ms) VALUES (?, ?, ?, ?)", WRITE_DURABLE
)


async def cql_photos(databases: Databases) -> tuple[CqlDatabase, Photos]:
    database = await databases.cql(STORAGE, service="photo")
    outbox = CqlOutbox(database)
    await outbox.start()
    return database, Photos(CqlPhotoStore(database), outbox)


async def test_cql_a_retry_while_the_first_attempt_may_still_commit_is_told_to_retry(databases: Databases) -> None:
    database, photos = await cql_photos(databases)
    dead = new_photo(6, "k")
    await database.execute(CLAIM_ONLY, (6, "k", dead.photo_id, int(time.time() * 1000)))  # claimed, never committed
    retry = new_photo(6, "k")

    with pytest.raises(KeyInUse):
        await photos.create(retry)

    assert await photos.store.get(retry.photo_id) is None
    assert await photos.store.by_idempotency_key(6, "k") is None  # a claim without a photo is no photo
    assert await photos.events() == []


async def test_cql_a_retry_after_the_lease_takes_the_key_of_a_dead_attempt(databases: Databases) -> None:
    database, photos = await cql_photos(databases)
    dead = new_photo(6, "k")
    claimed_at_ms = int(time.time() * 1000) - CLAIM_LEASE_MS - 1_000
    await database.execute(CLAIM_ONLY, (6, "k", dead.photo_id, claimed_at_ms))
    retry, late = new_photo(6, "k"), new_photo(6, "k")

    assert await photos.create(retry) == (retry, True)
    assert await photos.create(late) == (retry, False)

    assert await photos.store.by_idempotency_key(6, "k") == KeyedUpload(retry, "request-a")
    assert await photos.all_listed(6, 10) == [retry.photo_id]
    assert await photos.events() == [("PhotoPosted", retry.photo_id)]


async def test_cql_a_take_over_claims_the_key_for_the_new_request(databases: Databases) -> None:
    database, photos = await cql_photos(databases)
    claimed_at_ms = int(time.time() * 1000) - CLAIM_LEASE_MS - 1_000
    await database.execute(CLAIM_ONLY, (6, "k", new_photo(6, "k").photo_id, claimed_at_ms))
    retry = new_photo(6, "k")

    assert await photos.create(retry, "request-b") == (retry, True)

    with pytest.raises(KeyReused):
        await photos.create(new_photo(6, "k"), "request-a")
    assert await photos.store.by_idempotency_key(6, "k") == KeyedUpload(retry, "request-b")
    assert await photos.events() == [("PhotoPosted", retry.photo_id)]


async def test_cql_a_retry_waits_for_a_live_attempt_whose_commit_is_landing(databases: Databases) -> None:
    database, photos = await cql_photos(databases)
    first = new_photo(6, "k")
    await database.execute(CLAIM_ONLY, (6, "k", first.photo_id, int(time.time() * 1000)))

    async def commit_later() -> tuple[PhotoRecord, bool]:
        await asyncio.sleep(0.15)
        return await photos.create(first)  # finds its own claim and commits

    committed, retried = await asyncio.gather(commit_later(), photos.create(new_photo(6, "k")))

    assert committed == (first, True)
    assert retried == (first, False)
    assert await photos.events() == [("PhotoPosted", first.photo_id)]


# Albums: media uploaded first, then a post that takes them all in its own commit.


def new_image(media_id: int, alt_text: str = "") -> ImageRecord:
    return ImageRecord(
        media_id, 30, 20, BlobInfo("image/png", 9, "12" * 32), BlobInfo("image/png", 8, "34" * 32),
        BlobInfo("image/jpeg", 7, "56" * 32), alt_text,
    )  # fmt: skip


def new_media(user_id: int, key: str = "", *, media_id: int | None = None, alt_text: str = "") -> MediaRecord:
    media_id = media_id or ids.next_id()
    return MediaRecord(new_image(media_id, alt_text), user_id, id_timestamp_ms(media_id), key)


def album(user_id: int, media: list[MediaRecord], key: str = "") -> PhotoRecord:
    images = tuple(m.image for m in media)
    return single_image_photo(
        ids.next_id(), images[0], user_id=user_id, title="album", location="", time_stamp_ms=1, tags=("x",),
        created_at_ms=int(time.time() * 1000), idempotency_key=key, images=images,
    )  # fmt: skip


async def test_a_one_image_photo_keeps_its_image_and_alt_text(photos: Photos) -> None:
    base = new_photo(21)
    photo = dataclasses.replace(base, images=(new_image(base.photo_id, "a red kite\nover the hill"),))

    await photos.create(photo)

    stored = await photos.store.get(photo.photo_id)
    assert stored == photo and stored is not None
    assert stored.image_list()[0].alt_text == "a red kite\nover the hill"
    legacy = new_photo(21)  # a row from before albums: its one image is the row's own fields
    assert legacy.image_list() == (
        ImageRecord(legacy.photo_id, 3, 4, legacy.original, legacy.display, legacy.thumbnail, ""),
    )


async def test_a_post_takes_its_media_in_order_with_its_event(photos: Photos) -> None:
    media = [new_media(22, alt_text=f"image {n}") for n in range(3)]
    for item in media:
        assert await photos.store.create_media(item) == (item, True)
    post = album(22, [media[2], media[0]])

    assert await photos.create(post) == (post, True)

    stored = await photos.store.get(post.photo_id)
    assert stored == post and stored is not None
    assert [i.media_id for i in stored.image_list()] == [media[2].media_id, media[0].media_id]
    assert (stored.width, stored.original) == (media[2].image.width, media[2].image.original)  # the first image
    taken = await photos.store.get_media([m.media_id for m in media])
    assert {m.media_id: m.post_id for m in taken.values()} == {
        media[0].media_id: post.photo_id, media[1].media_id: 0, media[2].media_id: post.photo_id,
    }  # fmt: skip
    assert await photos.events() == [("PhotoPosted", post.photo_id)]
    assert await photos.store.existing([media[1].media_id, 777]) == {media[1].media_id}  # its blobs are kept


async def test_a_post_naming_a_taken_unknown_or_foreign_medium_writes_nothing(photos: Photos) -> None:
    mine, theirs = [new_media(23) for _ in range(3)], new_media(24)
    for item in [*mine, theirs]:
        await photos.store.create_media(item)
    first = album(23, [mine[0]])
    await photos.create(first)

    refused = [
        (album(23, [mine[1], mine[0]]), MediaTaken, 1),  # mine[0] is in `first`
        (album(23, [mine[1], new_media(23)]), MediaNotFound, 1),  # never uploaded
        (album(23, [theirs, mine[1]]), MediaNotFound, 0),  # another user's: the same answer as unknown
    ]
    for post, error, index in refused:
        with pytest.raises(error) as caught:
            await photos.create(post)
        assert caught.value.index == index
        assert await photos.store.get(post.photo_id) is None

    assert (await photos.store.get_media([mine[1].media_id]))[mine[1].media_id].post_id == 0  # given back
    assert (await photos.store.get_media([theirs.media_id]))[theirs.media_id].post_id == 0
    assert await photos.all_listed(23, 10) == [first.photo_id]
    assert await photos.events() == [("PhotoPosted", first.photo_id)]
    retried = album(23, [mine[1], mine[2]], key="k")  # nothing was held: the media and a key work at once
    assert await photos.create(retried) == (retried, True)


async def test_two_posts_racing_for_one_medium_make_one_post(photos: Photos) -> None:
    shared = new_media(25)
    await photos.store.create_media(shared)
    posts = [album(25, [shared]) for _ in range(4)]

    results = await asyncio.gather(*(photos.create(post) for post in posts), return_exceptions=True)

    assert [isinstance(result, tuple) for result in results].count(True) == 1
    assert all(isinstance(result, MediaTaken) for result in results if not isinstance(result, tuple))
    winner = next(result[0] for result in results if isinstance(result, tuple))
    assert await photos.all_listed(25, 10) == [winner.photo_id]
    assert (await photos.store.get_media([shared.media_id]))[shared.media_id].post_id == winner.photo_id


async def test_a_media_idempotency_key_gives_the_first_medium(photos: Photos) -> None:
    first, retry, other_user = new_media(26, "m"), new_media(26, "m"), new_media(27, "m")

    assert await photos.store.create_media(first, "request-a") == (first, True)
    assert await photos.store.create_media(retry, "request-a") == (first, False)
    with pytest.raises(KeyReused):
        await photos.store.create_media(new_media(26, "m"), "request-b")
    assert await photos.store.create_media(other_user, "request-a") == (other_user, True)

    assert await photos.store.media_by_idempotency_key(26, "m") == KeyedMedia(first, "request-a")
    assert await photos.store.media_by_idempotency_key(26, "other") is None
    assert await photos.store.get_media([retry.media_id]) == {}


async def test_expired_media_are_the_old_ones_no_post_took_and_deleting_frees_their_keys(photos: Photos) -> None:
    old = [new_media(28, f"old-{n}", media_id=id_days_ago(2)) for n in range(3)]
    fresh = new_media(28, "fresh")
    for item in [*old, fresh]:
        await photos.store.create_media(item)
    await photos.create(album(28, [old[1]]))
    day_ago_ms = int(time.time() * 1000) - 86_400_000

    expired = await photos.store.expired_media(day_ago_ms, 10)

    assert sorted(m.media_id for m in expired) == sorted([old[0].media_id, old[2].media_id])
    assert [m.media_id for m in await photos.store.expired_media(day_ago_ms, 1)] == [
        min(old[0].media_id, old[2].media_id)
    ]
    assert await photos.store.delete_media(old[0]) is True
    assert await photos.store.delete_media(old[0]) is False  # already gone
    assert await photos.store.delete_media(old[1]) is False  # a post holds it
    assert [m.media_id for m in await photos.store.expired_media(day_ago_ms, 10)] == [old[2].media_id]
    assert await photos.store.get_media([old[0].media_id]) == {}
    assert await photos.store.existing([old[0].media_id, old[1].media_id]) == {old[1].media_id}
    assert await photos.store.media_by_idempotency_key(28, "old-0") is None
    again = new_media(28, "old-0")
    assert await photos.store.create_media(again) == (again, True)  # the key is free again


async def test_deleting_a_post_deletes_its_media(photos: Photos) -> None:
    media = [new_media(29, f"k{n}") for n in range(2)]
    for item in media:
        await photos.store.create_media(item)
    post = album(29, media)
    await photos.create(post)

    assert await photos.store.delete(post.photo_id, deleted(post)) == post

    assert await photos.store.get_media([m.media_id for m in media]) == {}
    assert await photos.store.existing([m.media_id for m in media]) == set()
    assert await photos.store.media_by_idempotency_key(29, "k0") is None
    assert await photos.store.expired_media(int(time.time() * 1000) + 1_000, 10) == []


async def test_cql_a_medium_held_by_a_post_that_never_committed_expires(databases: Databases) -> None:
    database, photos = await cql_photos(databases)
    orphaned = new_media(30, media_id=id_days_ago(2))
    await photos.store.create_media(orphaned)
    ghost_post = ids.next_id()
    assert applied(await database.execute(TAKE_MEDIA, (ghost_post, orphaned.media_id, 30)))  # then the post died

    expired = await photos.store.expired_media(int(time.time() * 1000) - 86_400_000, 10)

    assert [(m.media_id, m.post_id) for m in expired] == [(orphaned.media_id, ghost_post)]
    assert await photos.store.delete_media(expired[0]) is True
    assert await photos.store.get_media([orphaned.media_id]) == {}


def edited(photo: PhotoRecord) -> events_pb2.PhotoEdited:
    return events_pb2.PhotoEdited(meta=new_meta(ids, "photo"), photo_id=photo.photo_id, user_id=photo.user_id)


async def test_an_edit_changes_the_words_in_every_read_with_its_event(photos: Photos) -> None:
    photo = dataclasses.replace(new_photo(31), caption="before", mentioned_user_ids=(5,))
    await photos.create(photo)
    assert await photos.store.get(photo.photo_id) == photo  # caption and mentions read back as written
    change = dataclasses.replace(
        photo, title="new title", location="Quimper", tags=("x", "y"), caption="after\n#y", mentioned_user_ids=(7, 8),
        images=(dataclasses.replace(photo.image_list()[0], alt_text="now described"),), edited_at_ms=1_234,
    )  # fmt: skip

    assert await photos.store.update(change, edited(change)) == change

    assert await photos.store.get(photo.photo_id) == change
    assert await photos.store.get_many([photo.photo_id]) == {photo.photo_id: change}
    assert await photos.store.list_by_user(31, None, 10) == [change]  # CQL's listing copy changed too
    assert await photos.events() == [("PhotoPosted", photo.photo_id), ("PhotoEdited", photo.photo_id)]


async def test_an_edit_of_a_deleted_photo_writes_nothing(photos: Photos) -> None:
    photo = new_photo(32)
    await photos.create(photo)
    await photos.store.delete(photo.photo_id, deleted(photo))

    assert await photos.store.update(dataclasses.replace(photo, title="late"), edited(photo)) is None

    assert await photos.store.get(photo.photo_id) is None
    assert await photos.all_listed(32, 10) == []
    assert [kind for kind, _ in await photos.events()] == ["PhotoPosted", "PhotoDeleted"]


async def test_cql_the_remains_of_an_edit_racing_a_delete_are_no_photo(databases: Databases) -> None:
    database, photos = await cql_photos(databases)
    photo = new_photo(33)
    await photos.create(photo)
    await photos.store.delete(photo.photo_id, deleted(photo))
    # The edit read the photo just before the delete, and its batch landed just after: upserted cells remain.
    await database.execute(EDIT_PHOTO, ("t", "", [], "", [], "", 1, photo.photo_id))

    assert await photos.store.get(photo.photo_id) is None
    assert await photos.store.get_many([photo.photo_id]) == {}


# The expiry of media no post took (services.photo.media.MediaExpiry), with real blobs on disk.


async def stored_blobs(blobs: FilesystemBlobStore, tmp_path: Path, media_id: int) -> None:
    for variant in VARIANTS:
        source = tmp_path / f"{media_id}-{variant}"
        source.write_bytes(f"{media_id} {variant}".encode())
        await blobs.put(blob_key(media_id, variant), source)


def has_blobs(blobs: FilesystemBlobStore, media_id: int) -> list[bool]:
    return [blobs.path(blob_key(media_id, variant)).exists() for variant in VARIANTS]


async def test_media_no_post_took_in_time_are_deleted_with_their_bytes(photos: Photos, tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    await blobs.start()
    old, posted, fresh = (
        new_media(41, "old", media_id=id_days_ago(2)),
        new_media(41, media_id=id_days_ago(3)),
        new_media(41),
    )

    for media in (old, posted, fresh):
        await photos.store.create_media(media)
        await stored_blobs(blobs, tmp_path, media.media_id)
    post = album(41, [posted])
    await photos.create(post)
    expiry = MediaExpiry(photos.store, blobs, max_age_seconds=86_400, interval_seconds=3_600)

    assert await expiry.sweep() == 1

    assert has_blobs(blobs, old.media_id) == [False] * 3
    assert await photos.store.get_media([old.media_id]) == {}
    assert await photos.store.media_by_idempotency_key(41, "old") is None
    assert has_blobs(blobs, posted.media_id) == [True] * 3 and has_blobs(blobs, fresh.media_id) == [True] * 3
    assert await photos.store.get(post.photo_id) == post
    assert await expiry.sweep() == 0  # nothing left to do
    quick = MediaExpiry(photos.store, blobs, max_age_seconds=0.001, interval_seconds=3_600)
    await asyncio.sleep(0.01)
    assert await quick.sweep() == 1  # the age is a setting: with a tiny one, the fresh medium goes too
    assert has_blobs(blobs, fresh.media_id) == [False] * 3
    await blobs.stop()
