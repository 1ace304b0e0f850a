"""Several replicas on one machine: ports, id shards, balanced targets, per-replica scratch, NATS cluster URLs
and the capacity table's measured/assumed column. The replicas running for real: tests/scale."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.capacity import ASSUMED, MEASURED, basis, capacity_table, replica_rows
from services.runtime import mesh as mesh_module
from services.runtime.channels import service_config
from services.runtime.config import MeshSettings, Settings
from services.runtime.events import nats_servers
from services.runtime.mesh import (
    LOWEST_FREE_PORT,
    Replica,
    balanced_target,
    ephemeral_ports,
    free_port,
    plan_replicas,
    replica_targets,
)
from services.runtime.server import Runtime
from services.runtime.topology import CONTRACTS, SERVICE_NAMES, SHARD_BLOCKS
from tests.support.in_process import serving
from tests.support.mesh import AUTH_SECRET

ENV = {"SHUTTER_AUTH_SECRET": AUTH_SECRET}


def test_free_ports_are_below_the_kernels_ephemeral_range_distinct_and_bindable() -> None:
    """A port from the ephemeral range can be taken by any outgoing connection before the server binds it
    (a CI run lost a service that way); below it only another listener can, and free_port checks for one."""
    low, high = ephemeral_ports()
    assert LOWEST_FREE_PORT < low <= high
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(LOWEST_FREE_PORT <= port < low for port in ports), sorted(ports)[-3:]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", ports[0]))  # still free: nothing was left holding it


def test_a_port_another_process_claimed_is_not_handed_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two test runs (or a bench and a test run) on one machine: the claim keeps their picks apart until
    the servers have bound them; a claim older than PORT_CLAIM_SECONDS is taken over."""
    claims = tmp_path / "claims"
    monkeypatch.setattr(mesh_module, "PORT_CLAIMS", claims)
    # This process's own hand-outs are another test's business: the meshes run earlier in the same pytest
    # process may have been handed 20002 already (it happened: free_port skipped to 20003).
    monkeypatch.setattr(mesh_module, "_handed_out", set())
    picks = iter([20_001, 20_001, 20_002, 20_003])
    monkeypatch.setattr(mesh_module.random, "randint", lambda low, high: next(picks))
    claims.mkdir()
    (claims / "20001").touch()  # another process's
    stale = claims / "20002"
    stale.touch()
    old = time.time() - mesh_module.PORT_CLAIM_SECONDS - 1
    os.utime(stale, (old, old))
    assert free_port() == 20_002
    assert free_port() == 20_003
    assert sorted(path.name for path in claims.iterdir()) == ["20001", "20002", "20003"]


def test_each_replica_has_its_own_port_and_a_shard_of_its_services_block() -> None:
    plan = plan_replicas(ENV, 3)
    shards = [replica.shard for group in plan.values() for replica in group]
    ports = [replica.port for group in plan.values() for replica in group]
    assert len(shards) == len(set(shards)) == len(ports) == len(set(ports)) == 3 * len(SERVICE_NAMES)
    defaults = Settings.from_env(ENV)
    for name, group in plan.items():
        first, count = SHARD_BLOCKS[name]
        assert [r.shard for r in group] == [first, first + 1, first + 2]
        assert all(first <= r.shard < first + count for r in group)
        assert group[0].port == defaults.ports[name]  # the first keeps the service's port
        assert [r.name for r in group] == [name, f"{name}-2", f"{name}-3"]
        assert group[1].env()["SHUTTER_SHARD_ID"] == str(first + 1)


def test_a_replica_beyond_its_services_block_is_refused() -> None:
    first, count = SHARD_BLOCKS["photo"]
    with pytest.raises(ValueError, match="id shards"):
        _ = Replica("photo", count, 1, 2).shard
    assert Replica("photo", count - 1, 1, 2).shard == first + count - 1


def test_callers_get_every_replica_in_one_balanced_target() -> None:
    assert balanced_target("127.0.0.1", [5001]) == "127.0.0.1:5001"
    assert balanced_target("127.0.0.1", [5001, 5002]) == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    with pytest.raises(OSError):
        balanced_target("localhost", [5001, 5002])  # the ipv4: scheme takes literal addresses only
    plan = plan_replicas(ENV, 2, services=("photo", "like"))
    env = {**ENV, **replica_targets(plan)}
    addresses = Settings.from_env(env).addresses
    assert addresses["photo"] == balanced_target("127.0.0.1", [r.port for r in plan["photo"]])
    assert replica_targets(plan_replicas(ENV, 1)) == {}


def test_channels_balance_over_health_checked_connections() -> None:
    config = service_config(CONTRACTS["photo"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": ""}
    json.dumps(config)  # what grpc.service_config is given


def test_replicas_keep_their_scratch_apart_and_share_their_data(tmp_path: Path) -> None:
    alone = Runtime("photo", Settings.from_env({**ENV, "SHUTTER_DATA_DIR": str(tmp_path)}))
    second = Runtime("photo", Settings.from_env({**ENV, "SHUTTER_DATA_DIR": str(tmp_path), "SHUTTER_SHARD_ID": "2049"}))
    assert alone.replica_path("tmp") == alone.data_path("tmp")
    assert second.replica_path("tmp") == second.data_path("shard-2049", "tmp")
    assert second.data_path("photo.db") == alone.data_path("photo.db")


def test_replicas_setting_is_bounded() -> None:
    assert MeshSettings.from_env({}).replicas == 1
    assert MeshSettings.from_env({"SHUTTER_REPLICAS": "2"}).replicas == 2
    with pytest.raises(SystemExit):
        MeshSettings.from_env({"SHUTTER_REPLICAS": "0"})


def test_a_nats_cluster_url_is_every_node() -> None:
    assert nats_servers("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    assert nats_servers("nats://a:1, nats://b:2,nats://c:3") == ["nats://a:1", "nats://b:2", "nats://c:3"]


def test_capacity_says_which_figures_are_measured() -> None:
    assert basis("photo bytes per day (1 copy)", {}) == ASSUMED
    assert basis("view path cores by CPU (gRPC)", {}) == MEASURED
    assert basis("feed writes per post, push only", {}) == ASSUMED
    assert basis("feed writes per post, push only", {"graph": {"follower_counts": [3]}}) == MEASURED
    run = {"views_per_s": 100.0, "workers": 8, "errors": 0, "views_per_s_per_replica": 100.0}
    measured = {"cores": 2, "runs": [run, {**run, "views_per_s": 150.0, "views_per_s_per_replica": 75.0}]}
    rows = replica_rows({**measured, "scaling_1_to_2": 1.5})
    assert [row[1] for row in rows[:3]] == ["100", "150 (75 per replica)", "1.50×"]
    assert all(basis(str(row[0]), {}) == MEASURED for row in rows)
    assert basis(str(replica_rows(None)[0][0]), {}) == ASSUMED
    table = capacity_table({"replicas": {**measured, "scaling_1_to_2": 1.5}})
    assert "| basis |" in table.splitlines()[0]
    assert "| 1.50× |" in table and table.count(f"| {MEASURED} |") >= 3 and f"| {ASSUMED} |" in table


async def test_health_watch_streams_through_the_runtime_interceptors(tmp_path: Path) -> None:
    """Client-side health checking calls Health/Watch, whose handler writes with context.write instead of
    yielding: the runtime's interceptor must stream it (it failed INTERNAL, so every channel saw its
    backends as unhealthy)."""
    async with serving(tmp_path, "photo", lambda runtime: None, ready=False) as server:
        watch = health_pb2_grpc.HealthStub(server.channel).Watch(health_pb2.HealthCheckRequest(), timeout=10)
        first = await watch.read()
        await server.ready()
        second = await watch.read()
        watch.cancel()
    assert (first.status, second.status) == (
        health_pb2.HealthCheckResponse.NOT_SERVING,
        health_pb2.HealthCheckResponse.SERVING,
    )
