"""The view's photo cache: entries live max_age from when their fetch was sent, events drop them sooner."""

from __future__ import annotations

import pytest

from services.runtime.fresh import REFRESH_AFTER_SHARE
from services.view.cache import PhotoCache
from shutter.photo.v1 import photo_pb2


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def photo(photo_id: int) -> photo_pb2.Photo:
    return photo_pb2.Photo(photo_id=photo_id, user_id=1, title=f"p{photo_id}")


def test_an_entry_expires_max_age_after_its_fetch_was_sent_not_after_it_arrived() -> None:
    clock = Clock()
    cache = PhotoCache(max_entries=10, max_age=1.0, clock=clock)
    sent_at = cache.now()
    clock.now += 0.6  # a slow fetch
    cache.put([photo(1)], sent_at)
    assert cache.get(1) == photo(1)
    clock.now = sent_at + 0.999
    assert cache.get(1) == photo(1)
    clock.now = sent_at + 1.0
    assert cache.get(1) is None
    assert (cache.hits, cache.misses) == (2, 1)


def test_a_fetch_older_than_max_age_is_not_kept_at_all() -> None:
    clock = Clock()
    cache = PhotoCache(max_entries=10, max_age=1.0, clock=clock)
    sent_at = cache.now()
    clock.now += 1.5
    cache.put([photo(1)], sent_at)
    assert len(cache) == 0


def test_an_invalidation_drops_the_photo_and_refuses_fetches_sent_before_it() -> None:
    clock = Clock()
    cache = PhotoCache(max_entries=10, max_age=1.0, clock=clock)
    cache.put([photo(1), photo(2)], cache.now())
    before_delete = cache.now()
    clock.now += 0.1
    cache.invalidate(1)
    assert cache.get(1) is None and cache.get(2) == photo(2)
    cache.put([photo(1)], before_delete)  # read before the delete, answered after the event
    assert cache.get(1) is None
    clock.now += 0.1
    cache.put([photo(1)], cache.now())  # sent after it (an edit, say): kept
    assert cache.get(1) == photo(1)


def test_the_oldest_entries_go_first_past_the_bound() -> None:
    cache = PhotoCache(max_entries=3, max_age=1.0, clock=Clock())
    for photo_id in range(1, 6):
        cache.put([photo(photo_id)], cache.now())
    assert len(cache) == 3
    assert [cache.get(i) is not None for i in range(1, 6)] == [False, False, True, True, True]


def test_zero_max_age_or_entries_turns_it_off() -> None:
    for cache in (PhotoCache(max_entries=10, max_age=0), PhotoCache(max_entries=0, max_age=1.0)):
        cache.put([photo(1)], cache.now())
        assert cache.get(1) is None


@pytest.mark.parametrize("max_age", [1.01, 5.0, -0.1])
def test_the_design_promise_bounds_max_age(max_age: float) -> None:
    with pytest.raises(ValueError, match=r"0 to 1\.0 s"):
        PhotoCache(max_entries=10, max_age=max_age)


def refreshing(clock: Clock) -> tuple[PhotoCache, list[int], float]:
    """A cache holding photo 1, fetched now, whose refresher records the keys it is asked to refresh."""
    cache = PhotoCache(max_entries=10, max_age=1.0, clock=clock)
    started: list[int] = []
    cache.refresh_with(started.append)
    sent_at = cache.now()
    cache.put([photo(1)], sent_at)
    return cache, started, sent_at


def test_a_hit_past_the_refresh_age_is_served_and_refreshed_once_until_the_refresh_ends() -> None:
    clock = Clock()
    cache, started, sent_at = refreshing(clock)
    clock.now = sent_at + REFRESH_AFTER_SHARE - 0.01
    assert cache.get(1) == photo(1) and started == []  # young: no refresh
    clock.now = sent_at + REFRESH_AFTER_SHARE
    assert cache.get(1) == photo(1) and started == [1]  # served while it refreshes
    assert cache.get(1) == photo(1) and started == [1]  # one refresh at a time
    clock.now = sent_at + 1.0
    assert cache.get(1) is None  # a refresh that has not come back extends nothing
    cache.refreshed(1)
    refetched = cache.now()
    cache.put([photo(1)], refetched)
    clock.now = refetched + REFRESH_AFTER_SHARE
    assert cache.get(1) == photo(1) and started == [1, 1]  # the next refresh, a max_age share after its fetch
    assert cache.refreshes == 2


def test_an_invalidated_entry_is_not_served_while_its_refresh_runs() -> None:
    clock = Clock()
    cache, started, before = refreshing(clock)
    clock.now += REFRESH_AFTER_SHARE
    assert cache.get(1) == photo(1) and started == [1]
    clock.now += 0.01
    cache.invalidate(1)  # deleted while its refresh is out
    assert cache.get(1) is None
    cache.put([photo(1)], before + REFRESH_AFTER_SHARE)  # the refresh was sent before the delete: refused
    assert cache.get(1) is None


def test_without_a_refresher_an_old_entry_is_served_until_it_expires() -> None:
    clock = Clock()
    cache = PhotoCache(max_entries=10, max_age=1.0, clock=clock)
    cache.put([photo(1)], cache.now())
    clock.now += 0.9
    assert cache.get(1) == photo(1) and cache.refreshes == 0
