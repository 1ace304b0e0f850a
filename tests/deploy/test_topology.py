"""services/runtime/topology.py as deployments depend on it: id shard blocks that never move, and an image that
exposes every port the topology names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from services.runtime import server, topology
from services.runtime.config import Settings
from services.runtime.ids import MAX_SHARD, SEQUENCE_BITS
from services.runtime.server import Runtime
from services.runtime.topology import DEFAULT_PORTS, GATEWAY_PORT, METRICS_PORTS, SERVICE_NAMES, SHARD_BLOCKS
from tools import chartgen

ROOT = Path(__file__).resolve().parents[2]

# The first shard of every block as deployed: ids already minted carry these, so they never change.
DEPLOYED_SHARD_BASES = {
    "user": 0,
    "follow": 1024,
    "photo": 2048,
    "like": 3072,
    "comment": 4096,
    "view": 5120,
    "feed": 6144,
    "search": 7168,
    "notification": 512,
}


def test_every_service_has_a_block_and_no_two_blocks_overlap() -> None:
    assert set(SHARD_BLOCKS) == set(SERVICE_NAMES)
    taken: dict[int, str] = {}
    for name, (first, count) in SHARD_BLOCKS.items():
        assert count > 0 and first >= 0 and first + count - 1 <= MAX_SHARD, name
        for shard in range(first, first + count):
            assert shard not in taken, f"{name} and {taken[shard]} share shard {shard}"
            taken[shard] = name


def test_deployed_blocks_never_move() -> None:
    assert {name: SHARD_BLOCKS[name][0] for name in DEPLOYED_SHARD_BASES} == DEPLOYED_SHARD_BASES


def _blocks(rendered: str) -> dict[str, tuple[int, int]]:
    components = yaml.safe_load(rendered)["components"]
    return {name: (c["shardBase"], c["shards"]) for name, c in components.items() if "shardBase" in c}


def test_adding_a_service_moves_nobody(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One more service takes a free block: every other service keeps its chart block and its local shard."""
    before = _blocks(chartgen.render())
    local_before = {name: _local_shard(tmp_path, name) for name in SERVICE_NAMES}
    free = next(
        (first, 512)
        for first in range(0, MAX_SHARD + 1, 512)
        if all(not (b <= first < b + n) for b, n in SHARD_BLOCKS.values())
    )
    monkeypatch.setattr(chartgen, "SERVICE_NAMES", (*SERVICE_NAMES, "newcomer"))
    monkeypatch.setattr(chartgen, "DEFAULT_PORTS", {**DEFAULT_PORTS, "newcomer": 50099})
    monkeypatch.setattr(chartgen, "METRICS_PORTS", {**METRICS_PORTS, "newcomer": 9499})
    monkeypatch.setattr(chartgen, "SHARD_BLOCKS", {**SHARD_BLOCKS, "newcomer": free})
    monkeypatch.setattr(server, "SHARD_BLOCKS", {**SHARD_BLOCKS, "newcomer": free})

    after = _blocks(chartgen.render())
    assert after == {**before, "newcomer": free}
    assert {name: _local_shard(tmp_path, name) for name in SERVICE_NAMES} == local_before
    assert _local_shard(tmp_path, "newcomer") == free[0]


def _local_shard(tmp_path: Path, name: str) -> int:
    """The shard a service started alone (no SHUTTER_SHARD_ID) mints ids with."""
    runtime = Runtime(name, Settings.from_env({"SHUTTER_DATA_DIR": str(tmp_path), "SHUTTER_AUTH_SECRET": "s" * 40}))
    return runtime.ids.next_id() >> SEQUENCE_BITS & MAX_SHARD


def test_a_process_started_alone_mints_ids_in_its_own_block(tmp_path: Path) -> None:
    for name in SERVICE_NAMES:
        first, count = SHARD_BLOCKS[name]
        assert first <= _local_shard(tmp_path, name) < first + count, name


def test_the_image_exposes_exactly_the_ports_of_the_topology() -> None:
    (line,) = re.findall(r"^EXPOSE (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    exposed: set[int] = set()
    for part in line.split():
        low, _, high = part.partition("-")
        exposed |= set(range(int(low), int(high or low) + 1))
    assert exposed == {GATEWAY_PORT, *DEFAULT_PORTS.values()}, "update the Dockerfile's EXPOSE from topology.py"


def test_the_topology_module_names_no_service_twice() -> None:
    assert len(set(DEFAULT_PORTS.values())) == len(DEFAULT_PORTS)
    assert set(topology.CONTRACTS) == set(SERVICE_NAMES)
