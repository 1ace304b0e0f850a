"""The visibility rule and its per-process cache (services.runtime.visibility)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.runtime.batching import BACKGROUND_DELAY_SECONDS
from services.runtime.errors import NotFound, PermissionDenied
from services.runtime.visibility import (
    Relationship,
    RelationshipCache,
    Verdict,
    Visibility,
    deny_account,
    in_feed,
    may_see,
    verdict,
)
from shutter.follow.v1 import follow_pb2

V, A = 7, 9

RULE = [
    (Relationship(), Verdict.VISIBLE, True),
    (Relationship(author_private=True), Verdict.PRIVATE, False),
    (Relationship(author_private=True, requested=True), Verdict.PRIVATE, False),
    (Relationship(author_private=True, following=True), Verdict.VISIBLE, True),
    (Relationship(blocked_by_author=True), Verdict.BLOCKED, False),
    (Relationship(blocked_by_viewer=True), Verdict.BLOCKED, False),
    (Relationship(author_private=True, following=True, blocked_by_author=True), Verdict.BLOCKED, False),
    (Relationship(muted=True, following=True), Verdict.VISIBLE, False),
]


@pytest.mark.parametrize(("facts", "expected", "feed"), RULE)
def test_the_rule(facts: Relationship, expected: Verdict, feed: bool) -> None:
    assert verdict(V, A, facts) is expected
    assert may_see(V, A, facts) is (expected is Verdict.VISIBLE)
    assert in_feed(V, A, facts) is feed


def test_an_author_always_sees_their_own_content() -> None:
    facts = Relationship(author_private=True, blocked_by_author=True, muted=True)
    assert verdict(A, A, facts) is Verdict.VISIBLE and in_feed(A, A, facts)


def test_denials_reveal_nothing_a_blocked_user_should_not_learn() -> None:
    assert isinstance(deny_account(Verdict.BLOCKED, A), NotFound)
    assert isinstance(deny_account(Verdict.PRIVATE, A), PermissionDenied)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_at_most_max_age_after_its_fetch_was_sent() -> None:
    clock = Clock()
    cache = RelationshipCache(max_entries=10, max_age=1.0, clock=clock)
    sent = cache.now()
    clock.now += 0.4
    cache.put({(V, A): Relationship(following=True)}, sent)
    assert cache.get((V, A)) == Relationship(following=True)
    clock.now = sent + 1.0
    assert cache.get((V, A)) is None


def test_a_change_forgets_every_pair_of_the_user_and_refuses_fetches_sent_before_it() -> None:
    clock = Clock()
    cache = RelationshipCache(max_entries=10, max_age=1.0, clock=clock)
    cache.put({(V, A): Relationship(), (A, 3): Relationship(), (4, 5): Relationship()}, cache.now())
    raced = cache.now()  # a fetch sent before the block…
    clock.now += 0.1
    cache.forget(A)  # …the block's event arrives…
    clock.now += 0.1
    cache.put({(V, A): Relationship()}, raced)  # …and the fetch's stale answer comes back after it
    assert cache.get((V, A)) is None
    assert cache.get((A, 3)) is None
    assert cache.get((4, 5)) == Relationship()
    cache.put({(V, A): Relationship(blocked_by_author=True)}, cache.now())
    clock.now += 0.01
    assert cache.get((V, A)) == Relationship(blocked_by_author=True)


def test_the_cache_is_bounded_and_its_age_capped() -> None:
    cache = RelationshipCache(max_entries=2, max_age=1.0)
    cache.put({(1, 2): Relationship(), (1, 3): Relationship(), (1, 4): Relationship()}, cache.now())
    assert cache.get((1, 2)) is None and cache.get((1, 4)) is not None
    with pytest.raises(ValueError):
        RelationshipCache(max_entries=2, max_age=1.5)


class Follow:
    """The follow service's batch read: every pair unrelated, each call recorded."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[int, int]]] = []

    async def BatchGetRelationships(self, request: Any, timeout: float, metadata: Any) -> Any:
        self.calls.append([(p.viewer_id, p.author_id) for p in request.pairs])
        return follow_pb2.BatchGetRelationshipsResponse(
            relationships=[follow_pb2.Relationship(viewer_id=p.viewer_id, author_id=p.author_id) for p in request.pairs]
        )


async def test_a_pair_in_steady_use_is_fetched_again_before_it_expires_without_a_reader_waiting() -> None:
    follow = Follow()
    visibility = Visibility(None, follow, max_age=0.4)  # type: ignore[arg-type]
    assert await visibility.check(V, A) is Verdict.VISIBLE
    assert follow.calls == [[(V, A)]]
    await asyncio.sleep(0.25)  # past the refresh age (half of max_age)
    assert await visibility.check(V, A) is Verdict.VISIBLE  # from the cache, its refresh started
    assert len(follow.calls) == 1
    await asyncio.sleep(BACKGROUND_DELAY_SECONDS * 1.5)
    assert follow.calls == [[(V, A)], [(V, A)]]
    await asyncio.sleep(0.1)  # past the first fetch's max_age, within the refresh's
    misses = visibility.cache.misses
    assert await visibility.check(V, A) is Verdict.VISIBLE
    assert visibility.cache.misses == misses
