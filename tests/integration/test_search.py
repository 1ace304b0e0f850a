"""Search over the real mesh: photos uploaded to the photo service become findable through JetStream."""

from __future__ import annotations

import asyncio
import signal

import grpc
import pytest

from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.search.v1 import search_pb2
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.rich_status import field_violations
from tests.support.search import ids, search, search_stub, unique_word, until_ids
from tests.support.users import SignedUp, sign_up
from tests.support.waiting import eventually

IMAGE = make_jpeg(32, 24)


@pytest.fixture(scope="module")
async def me(mesh: Mesh) -> SignedUp:
    """Who posts and searches in this module (unique words keep the tests apart)."""
    return await sign_up(mesh, sign_in=False)


async def post(
    mesh: Mesh, me: SignedUp, title: str = "", tags: tuple[str, ...] = (), location: str = ""
) -> photo_pb2.Photo:
    return await upload(mesh, me.token, me.user_id, IMAGE, title=title, tags=tags, location=location)


async def test_a_posted_photo_is_found_by_tag_words_and_location(mesh: Mesh, me: SignedUp) -> None:
    word = unique_word()
    photo = await post(
        mesh, me, title=f"Sunset over {word}", tags=(f"#{word}tag", "golden"), location=f"Bay {word}town"
    )
    await until_ids(mesh, me, [photo.photo_id], text=f"sunset {word}")
    assert await ids(mesh, me, tag=f"{word}tag") == [photo.photo_id]
    assert await ids(mesh, me, location=f"{word}town") == [photo.photo_id]
    assert await ids(mesh, me, tag=f"#{word}tag", text="golden", location=f"bay {word}town") == [photo.photo_id]
    assert await ids(mesh, me, text=f"{word} sunrise") == []
    [hit] = (await search(mesh, me, text=word)).hits
    assert (hit.user_id, hit.title, hit.location, list(hit.tags)) == (
        me.user_id,
        photo.title,
        photo.location,
        list(photo.tags),
    )
    assert hit.created_at == photo.created_at


async def test_a_deleted_photo_disappears(mesh: Mesh, me: SignedUp) -> None:
    word = unique_word()
    kept = await post(mesh, me, title=f"{word} kept")
    gone = await post(mesh, me, title=f"{word} gone")
    await until_ids(mesh, me, [gone.photo_id, kept.photo_id], text=word)
    photos = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    await photos.DeletePhoto(photo_pb2.DeletePhotoRequest(photo_id=gone.photo_id), metadata=me.metadata, timeout=5)
    await until_ids(mesh, me, [kept.photo_id], text=word)
    assert await ids(mesh, me, text=f"{word} gone") == []


@pytest.mark.parametrize("spelling", ["café", "CAFE", "Café", "cafe", "ＣＡＦÉ"])
async def test_accents_case_and_width_do_not_matter(mesh: Mesh, me: SignedUp, spelling: str) -> None:
    word = unique_word()
    photo = await post(mesh, me, title=f"Le Café {word}", tags=(f"#Tag{word}",), location="Zürich")
    await until_ids(mesh, me, [photo.photo_id], text=word)
    assert await ids(mesh, me, text=f"{spelling} {word}") == [photo.photo_id]
    assert await ids(mesh, me, text=f"{word.upper()} {spelling}") == [photo.photo_id]
    assert await ids(mesh, me, tag=f"tag{word}") == [photo.photo_id]
    assert await ids(mesh, me, tag=f"#TAG{word}") == [photo.photo_id]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in f"tag{word}")
    assert await ids(mesh, me, tag=full_width) == [photo.photo_id]
    assert await ids(mesh, me, text=word, location="ZURICH") == [photo.photo_id]


async def test_pages_are_newest_first_and_stable_while_photos_arrive(mesh: Mesh, me: SignedUp) -> None:
    word = unique_word()
    posted = [(await post(mesh, me, title=f"{word} number {i}")).photo_id for i in range(7)]
    newest_first = sorted(posted, reverse=True)
    assert newest_first == posted[::-1]  # photo ids are time-ordered
    await until_ids(mesh, me, newest_first, text=word)

    first = await search(mesh, me, text=word, page_size=3)
    assert [h.photo_id for h in first.hits] == newest_first[:3]
    assert first.next_page_token
    late = await post(mesh, me, title=f"{word} late")  # arrives between pages
    await until_ids(mesh, me, [late.photo_id, *newest_first], text=word)
    seen = [h.photo_id for h in first.hits]
    token = first.next_page_token
    while token:
        page = await search(mesh, me, text=word, page_size=3, page_token=token)
        seen += [h.photo_id for h in page.hits]
        token = page.next_page_token
    assert seen == newest_first  # no duplicates, nothing skipped, the newer photo not mixed in


async def test_page_size_is_capped(mesh: Mesh, me: SignedUp) -> None:
    word = unique_word()
    photo = await post(mesh, me, title=word)
    await until_ids(mesh, me, [photo.photo_id], text=word)
    response = await search(mesh, me, text=word, page_size=10_000)
    assert [h.photo_id for h in response.hits] == [photo.photo_id]
    assert response.next_page_token == ""


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({}, {"tag", "text", "location"}),
        ({"text": "   "}, {"tag", "text", "location"}),
        ({"tag": "#"}, {"tag"}),
        ({"text": "!!! ..."}, {"text"}),
        ({"tag": "x" * 101}, {"tag"}),
        ({"text": "word " * 41}, {"text"}),
        ({"location": "y" * 201}, {"location"}),
        ({"text": "a b c d e f g h i"}, {"text"}),
        ({"text": "ok", "page_size": -1}, {"page_size"}),
        ({"text": "ok", "page_token": "not a token"}, {"page_token"}),
        ({"tag": "x" * 101, "location": "y" * 201}, {"tag", "location"}),
    ],
)
async def test_bad_queries_are_invalid_argument_naming_the_field(
    mesh: Mesh, me: SignedUp, query: dict[str, object], fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await search(mesh, me, **query)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == fields


async def test_a_page_token_only_continues_its_own_query(mesh: Mesh, me: SignedUp) -> None:
    word = unique_word()
    for i in range(2):
        await post(mesh, me, title=f"{word} {i}")
    await eventually(lambda: _count(mesh, me, word, 2))
    first = await search(mesh, me, text=word, page_size=1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await search(mesh, me, text=f"{word} other", page_size=1, page_token=first.next_page_token)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"page_token"}


async def _count(mesh: Mesh, me: SignedUp, word: str, expected: int) -> bool:
    return len(await ids(mesh, me, text=word)) == expected


async def test_search_needs_a_token(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await search_stub(mesh).SearchPhotos(search_pb2.SearchPhotosRequest(text="cafe"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.slow
async def test_a_search_service_killed_while_photos_are_posted_loses_nothing(mesh: Mesh, me: SignedUp) -> None:
    word = unique_word()
    posted: list[int] = []

    async def keep_posting() -> None:
        for i in range(24):
            posted.append((await post(mesh, me, title=f"{word} {i}", tags=(word,))).photo_id)
            await asyncio.sleep(0.05)

    posting = asyncio.create_task(keep_posting())
    await eventually(lambda: _at_least(posted, 4))
    mesh.stop("search", signum=signal.SIGKILL)  # a crash: no graceful drain, maybe mid-batch
    await eventually(lambda: _at_least(posted, 12))
    mesh.start_service("search")
    await posting
    await mesh.wait_serving("search")
    await until_ids(mesh, me, sorted(posted, reverse=True), timeout=60, tag=word)


async def _at_least(items: list[int], count: int) -> bool:
    return len(items) >= count
