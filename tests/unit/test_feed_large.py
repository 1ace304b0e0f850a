"""services.feed.large: which large accounts a reader follows, found from the smaller side.

The store is a real SQLite feed store; the follow service is a stand-in that serves ListFollowees and
BatchGetRelationships by its contract, counting calls, in pages of 2 so a reader's list takes several.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.feed.large import LargeFollowees
from services.feed.sqlite import SqliteFeedStore
from services.feed.store import Post
from services.runtime.visibility import Visibility
from shutter.follow.v1 import follow_pb2
from tests.support.feeds import sqlite_feed_store

READER = 1


class Graph:
    """Who follows whom, answered as the follow service would; `listed` counts ListFollowees pages."""

    def __init__(self, follows: dict[int, list[int]]) -> None:
        self.follows = follows
        self.listed = 0
        self.checked = 0

    async def ListFollowees(self, request: follow_pb2.ListFolloweesRequest) -> follow_pb2.ListFolloweesResponse:
        self.listed += 1
        everyone = self.follows.get(request.user_id, [])
        start = int(request.page_token or 0)
        page = everyone[start : start + request.page_size]
        more = start + request.page_size < len(everyone)
        return follow_pb2.ListFolloweesResponse(
            follows=[follow_pb2.Follow(follower_id=request.user_id, followee_id=f) for f in page],
            next_page_token=str(start + request.page_size) if more else "",
        )

    async def BatchGetRelationships(
        self, request: follow_pb2.BatchGetRelationshipsRequest, **_: object
    ) -> follow_pb2.BatchGetRelationshipsResponse:
        self.checked += len(request.pairs)
        return follow_pb2.BatchGetRelationshipsResponse(
            relationships=[
                follow_pb2.Relationship(
                    viewer_id=p.viewer_id, author_id=p.author_id, following=p.author_id in self.follows[p.viewer_id]
                )
                for p in request.pairs
            ]
        )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteFeedStore]:
    async with sqlite_feed_store(tmp_path) as large:
        for author in (10, 20, 30, 40):  # four large accounts: each has a post that was not fanned out
            await large.record_post(Post(photo_id=author * 100, author_id=author, posted_ms=1), pulled=True)
        yield large


def finder(store: SqliteFeedStore, graph: Graph, pair_checks: int) -> LargeFollowees:
    visibility = Visibility(None, graph)  # type: ignore[arg-type]
    return LargeFollowees(store, visibility, graph, pair_checks=pair_checks, followees_page=2)  # type: ignore[arg-type]


async def test_with_many_large_accounts_the_readers_followees_are_listed_in_pages(store: SqliteFeedStore) -> None:
    graph = Graph({READER: [5, 40, 6, 10, 7]})
    large = finder(store, graph, pair_checks=3)
    assert await large.of(READER) == [40, 10]
    assert (graph.listed, graph.checked) == (3, 0)  # five followees in pages of two; no pair checked
    # Kept for the reader (≤ 1 s): the next read lists nothing, until a follow event forgets the reader.
    assert await large.of(READER) == [40, 10]
    assert graph.listed == 3
    graph.follows[READER].append(30)
    large.forget(READER)
    assert await large.of(READER) == [40, 10, 30]
    assert graph.listed == 6


async def test_with_few_large_accounts_the_reader_is_checked_against_each(store: SqliteFeedStore) -> None:
    graph = Graph({READER: [5, 40, 6, 10, 7]})
    assert await finder(store, graph, pair_checks=4).of(READER) == [10, 40]
    assert (graph.listed, graph.checked) == (0, 4)


async def test_a_reader_following_nobody_pulls_nothing(store: SqliteFeedStore) -> None:
    graph = Graph({READER: []})
    assert await finder(store, graph, pair_checks=0).of(READER) == []
    assert graph.listed == 1
