"""Two replicas of every service under the design's mix, one of each SIGKILLed in turn and restarted.

What must hold (issue 23, part 1): idempotent calls succeed through the channel's retries; an upload fails
cleanly (UNAVAILABLE) at most once per kill it lives through and succeeds when retried with its idempotency
key; every acknowledged upload reaches each follower's feed and the search index exactly once (two feed and
two search replicas share one durable consumer each); ids minted by two replicas never collide.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from services.runtime.events import EVENTS_STREAM
from services.runtime.ids import SEQUENCE_BITS, SHARD_BITS
from services.runtime.topology import SERVICE_NAMES, SHARD_BLOCKS
from tests.support import search as searching
from tests.support.feeds import feed_photo_ids
from tests.support.mesh import Mesh
from tests.support.mix import IDEMPOTENT, Mix
from tests.support.users import sign_up_many
from tests.support.waiting import eventually

REPLICAS = 2
AUTHORS = 3
READERS = 6
# After the last restart, how long every acknowledged upload may take to reach every feed and the index.
CONVERGE_SECONDS = 60.0
# Home feeds keep their newest SHUTTER_FEED_CAPACITY entries (800 by default); a fast machine uploads more than
# that in the mix's minute, and a trimmed feed would read as lost posts. Room for every upload instead.
FEED_CAPACITY = 100_000

pytestmark = pytest.mark.slow


def shard_of(id_: int) -> int:
    return (id_ >> SEQUENCE_BITS) & ((1 << SHARD_BITS) - 1)


@pytest.fixture(scope="module")
async def replicated(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    running = Mesh(
        Path(tmp_path_factory.mktemp("replicas")),
        replicas=REPLICAS,
        extra_env={"SHUTTER_FEED_CAPACITY": str(FEED_CAPACITY)},
    )
    try:
        await running.start()
        yield running
    finally:
        await running.close()


async def durable_consumers(mesh: Mesh) -> list[str]:
    connection = await nats.connect(mesh.settings.nats_url)
    try:
        return [info.name for info in await connection.jetstream().consumers_info(EVENTS_STREAM)]
    finally:
        await connection.close()


async def test_replicas_have_their_own_ports_and_shards_and_share_durable_consumers(replicated: Mesh) -> None:
    for name in SERVICE_NAMES:
        group = replicated.replicas[name]
        assert [r.shard for r in group] == [SHARD_BLOCKS[name][0] + i for i in range(REPLICAS)], name
        assert replicated.address(name).startswith("ipv4:"), replicated.address(name)
    ports = [r.port for group in replicated.replicas.values() for r in group]
    assert len(ports) == len(set(ports))
    # One durable per purpose, whichever replica created it first: never one per replica.
    names = await durable_consumers(replicated)
    assert len(names) == len(set(names))
    assert {"feed-fanout", "search-indexer"} <= set(names), names
    assert not [n for n in names if n.endswith(("-2", "-1"))], names


async def test_killing_one_replica_of_each_service_loses_nothing_and_applies_nothing_twice(replicated: Mesh) -> None:
    authors, readers, (bystander,) = await asyncio.gather(
        sign_up_many(replicated, AUTHORS, "author"), sign_up_many(replicated, READERS, "reader"),
        sign_up_many(replicated, 1, "bystander"),
    )  # fmt: skip
    for reader in readers:
        for author in authors:
            await reader.follow(replicated, author)
    mix = Mix(replicated, list(authors), list(readers), bystander)
    stop = asyncio.Event()
    running = asyncio.create_task(mix.run(stop))
    killed: list[str] = []
    try:
        await asyncio.sleep(2)
        for position, name in enumerate(SERVICE_NAMES):
            victim = replicated.replicas[name][position % REPLICAS]  # the first replica of some, the second of others
            uploads_hit = name == "photo"  # only the photo service is in an upload's path
            mix.tally.kills += uploads_hit
            mix.tally.restarting = uploads_hit
            await replicated.restart_replica(victim.name, signal.SIGKILL)
            mix.tally.restarting = False
            killed.append(victim.name)
            await asyncio.sleep(1)
        await asyncio.sleep(2)
    finally:
        stop.set()
        tally = await running
    assert len(killed) == len(SERVICE_NAMES)

    print(f"\nmix over {tally.elapsed:.0f}s with {len(killed)} kills: ok {dict(tally.ok)} failed {dict(tally.failed)}")
    assert tally.ok["view"] > 50 and tally.ok["upload"] >= 5, dict(tally.ok)
    assert tally.failures(IDEMPOTENT) == {}, "idempotent calls must succeed through the channel's retries"
    assert {code for (_, code) in tally.failed} <= {"UNAVAILABLE"}, dict(tally.failed)
    for upload in tally.uploads:
        assert len(upload.failures) <= upload.kills_seen, (upload.key, upload.failures, upload.kills_seen)

    # One photo per idempotency key, and no id minted twice; both photo replicas minted some.
    photo_ids = [upload.photo_id for upload in tally.uploads]
    assert len(photo_ids) == len(set(photo_ids)) == len({u.key for u in tally.uploads})
    assert {shard_of(id_) for id_ in photo_ids} == {SHARD_BLOCKS["photo"][0] + i for i in range(REPLICAS)}
    user_ids = [u.user_id for u in (*authors, *readers, bystander)]
    assert len(user_ids) == len(set(user_ids))

    # Every acknowledged upload in each follower's feed exactly once, and in the index exactly once.
    expected = set(photo_ids) | set(mix.photos)
    assert len(expected) < FEED_CAPACITY, "the mix outran the feeds' capacity: what was trimmed would read as lost"

    async def feeds_complete() -> None:
        for reader in readers:
            ids = await feed_photo_ids(replicated, reader.user_id)
            repeated = [i for i, n in Counter(ids).items() if n > 1]
            assert not repeated, f"reader {reader.user_id}: {repeated} twice"
            missing = expected - set(ids)
            assert not missing, f"reader {reader.user_id} misses {len(missing)} of {len(expected)}"

    async def index_complete() -> None:
        for upload in tally.uploads:
            found = await searching.ids(replicated, readers[0], tag=upload.tag)
            assert found == [upload.photo_id], (upload.tag, found)

    await eventually(feeds_complete, CONVERGE_SECONDS, interval=1)
    await eventually(index_complete, CONVERGE_SECONDS, interval=1)


def searches_served(mesh: Mesh, name: str) -> int:
    """SearchPhotos calls replica `name` has logged (one access-log line per RPC)."""
    text = (mesh.logs / f"{name}.log").read_text(errors="replace")
    return sum(1 for line in text.splitlines() if '"msg": "rpc"' in line and "SearchPhotos" in line)


async def test_calls_skip_a_dead_replica_and_reach_it_again_once_it_serves(replicated: Mesh) -> None:
    """Round robin over health-checked connections: while one search replica is dead every call goes to its
    sibling and succeeds; restarted, it gets its share again."""
    (someone,) = await sign_up_many(replicated, 1, "hc")
    victim = replicated.replicas["search"][1]
    replicated.stop(victim.name, signal.SIGKILL)
    while_dead = await asyncio.gather(*(searching.ids(replicated, someone, tag="zqnothing") for _ in range(20)))
    assert while_dead == [[]] * 20
    before = searches_served(replicated, victim.name)
    await replicated.restart_replica(victim.name)

    async def shared_again() -> None:
        await asyncio.gather(*(searching.ids(replicated, someone, tag="zqnothing") for _ in range(10)))
        assert searches_served(replicated, victim.name) > before, "the restarted replica got no call"

    await eventually(shared_again, 20, interval=0.5)
