import time

import pytest

from services.runtime.ids import EPOCH_MS, MAX_SHARD, IdGenerator, id_timestamp_ms, min_id_at


def test_ids_are_unique_and_increasing_across_many_in_one_millisecond() -> None:
    generator = IdGenerator(shard_id=7)
    ids = [generator.next_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_id_carries_its_time_and_shard() -> None:
    before = int(time.time() * 1000)
    new_id = IdGenerator(shard_id=42).next_id()
    after = int(time.time() * 1000)
    assert before <= id_timestamp_ms(new_id) <= after + 2
    assert (new_id >> 10) & MAX_SHARD == 42
    assert new_id < 2**63


def test_shards_never_collide() -> None:
    a, b = IdGenerator(1), IdGenerator(2)
    assert not {a.next_id() for _ in range(2000)} & {b.next_id() for _ in range(2000)}


def test_min_id_at_bounds_ids_made_later() -> None:
    now_ms = int(time.time() * 1000)
    assert min_id_at(now_ms) <= IdGenerator(3).next_id()
    assert min_id_at(EPOCH_MS - 5) == 0


def test_shard_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError):
        IdGenerator(MAX_SHARD + 1)
