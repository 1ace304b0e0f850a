"""`make cluster-cassandra`: the user, photo and like services on a three-node Cassandra cluster (RF=3, each
store's documented consistency levels) losing one node under load, then getting it back (issue 23, part 3).

Too slow for the suite on 2 cores (three JVMs start one after the other), so a make target that prints its
figures and fails (exit 1) when what must hold does not:

1. the cluster starts (its start-up time is printed);
2. a closed-loop mix (photo reads, likes, like summaries, uploads with idempotency keys) runs before node 3 is
   SIGKILLed, during the outage, while node 3 restarts and after: reads and writes go on at LOCAL_QUORUM /
   LOCAL_ONE with one replica of three gone (ops/s and errors per phase are printed; an upload is retried
   once with its key);
3. node 3 comes back; the hints nodes 1 and 2 kept for it are delivered (the time from node 3 answering CQL
   to no hint file left is printed);
4. the proof: nodes 1 and 2 are stopped and node 3, alone, answers at consistency ONE for every photo and
   every like acknowledged while it was down.

    python -m tests.scale.cassandra_outage [--seconds 20] [--workdir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.cassandra_cluster import REPLICATION_RF3, CassandraCluster
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, metadata, requests
from tests.support.users import SignedUp, sign_up_many

SERVICES = ("user", "photo", "like")
WORKERS = 4
TIMEOUT = 10.0
IMAGE = make_jpeg(32, 24)
MIX = {"get_photo": 40, "like": 25, "like_summary": 20, "upload": 15}
HINTS_DEADLINE_SECONDS = 300.0


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    ok: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)  # "op CODE"

    def summary(self) -> dict[str, object]:
        total = sum(self.ok.values())
        return {
            "seconds": round(self.seconds, 1),
            "ops_per_s": round(total / self.seconds, 1) if self.seconds else 0.0,
            "ok": dict(self.ok),
            "errors": dict(self.failed),
        }


@dataclass
class Written:
    """What was acknowledged while node 3 was down: it must all be on node 3 after it converges."""

    photos: list[int] = field(default_factory=list)
    likes: list[tuple[int, int]] = field(default_factory=list)  # (photo_id, user_id)


class Load:
    def __init__(self, mesh: Mesh, users: list[SignedUp], photos: list[int]) -> None:
        self.mesh = mesh
        self.users = users
        self.photos = photos
        self.random = random.Random(3)
        self.photo = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
        self.like = like_pb2_grpc.LikeServiceStub(mesh.channel("like"))

    async def run(self, phase: Phase, seconds: float, written: Written | None = None) -> None:
        stop = time.monotonic() + seconds
        began = time.monotonic()
        await asyncio.gather(*(self._worker(phase, stop, written) for _ in range(WORKERS)))
        phase.seconds += time.monotonic() - began

    async def _worker(self, phase: Phase, stop: float, written: Written | None) -> None:
        names, weights = list(MIX), list(MIX.values())
        while time.monotonic() < stop:
            name = self.random.choices(names, weights)[0]
            user = self.random.choice(self.users)
            try:
                await getattr(self, f"_{name}")(user, written)
            except grpc.aio.AioRpcError as exc:
                phase.failed[f"{name} {exc.code().name}"] += 1
                continue
            phase.ok[name] += 1

    async def _get_photo(self, user: SignedUp, written: Written | None) -> None:
        request = photo_pb2.GetPhotoRequest(photo_id=self.random.choice(self.photos))
        await self.photo.GetPhoto(request, metadata=user.metadata, timeout=TIMEOUT)

    async def _like(self, user: SignedUp, written: Written | None) -> None:
        photo_id = self.random.choice(self.photos)
        request = like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=user.user_id)
        await self.like.LikePhoto(request, metadata=user.metadata, timeout=TIMEOUT)
        if written is not None:
            written.likes.append((photo_id, user.user_id))

    async def _like_summary(self, user: SignedUp, written: Written | None) -> None:
        request = like_pb2.GetLikeSummaryRequest(photo_id=self.random.choice(self.photos))
        await self.like.GetLikeSummary(request, metadata=user.metadata, timeout=TIMEOUT)

    async def _upload(self, user: SignedUp, written: Written | None) -> None:
        """Retried once with its idempotency key: the second answer is the first upload's photo if it landed."""
        meta = metadata(user.user_id, title="outage", idempotency_key=uuid.uuid4().hex)
        try:
            reply = await self.photo.UploadPhoto(requests(meta, IMAGE), metadata=user.metadata, timeout=TIMEOUT)
        except grpc.aio.AioRpcError:
            reply = await self.photo.UploadPhoto(requests(meta, IMAGE), metadata=user.metadata, timeout=TIMEOUT)
        self.photos.append(reply.photo.photo_id)
        if written is not None:
            written.photos.append(reply.photo.photo_id)


def missing_on_alone(cluster: CassandraCluster, mesh: Mesh, written: Written, index: int) -> dict[str, int]:
    """Node `index` alone (the others stopped) at consistency ONE: what it lacks of `written`."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    node = cluster.nodes[index]
    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([node.address]), consistency_level=ConsistencyLevel.ONE
    )
    driver = Cluster([node.address], port=node.native_port, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    try:
        session = driver.connect()
        photos_ks, likes_ks = mesh.keyspace("photo"), mesh.keyspace("like")
        photo = session.prepare(f"SELECT photo_id FROM {photos_ks}.photos WHERE photo_id = ?")
        like = session.prepare(f"SELECT user_id FROM {likes_ks}.likes_by_photo WHERE photo_id = ? AND user_id = ?")
        return {
            "photos": sum(1 for p in written.photos if session.execute(photo, (p,)).one() is None),
            "likes": sum(1 for p, u in set(written.likes) if session.execute(like, (p, u)).one() is None),
        }
    finally:
        driver.shutdown()


async def run(seconds: float, workdir: Path) -> dict[str, object]:
    figures: dict[str, object] = {"phase_seconds": seconds}
    cluster = CassandraCluster(workdir / "cassandra")
    print(f"starting 3 Cassandra nodes on {cluster.contact_points} (port {cluster.native_port})…", flush=True)
    cluster.start()
    figures["cluster_startup_seconds"] = round(cluster.startup_seconds or 0, 1)
    figures["node_startup_seconds"] = [round(n.startup_seconds or 0, 1) for n in cluster.nodes]
    print(f"cluster up in {figures['cluster_startup_seconds']}s {figures['node_startup_seconds']}", flush=True)
    env = {
        "SHUTTER_STORE": "cql",
        "SHUTTER_BLOB_STORE": "cql",
        "SHUTTER_CQL_CONTACT_POINTS": cluster.contact_points,
        "SHUTTER_CQL_PORT": str(cluster.native_port),
        "SHUTTER_CQL_REPLICATION": REPLICATION_RF3,
        "SHUTTER_CQL_KEYSPACE": f"outage{uuid.uuid4().hex[:8]}",
    }
    mesh = Mesh(workdir / "mesh", services=SERVICES, extra_env=env)
    written = Written()
    phases = {name: Phase(name) for name in ("before", "outage", "restarting", "after")}
    try:
        began = time.monotonic()
        await mesh.start()
        figures["mesh_startup_seconds"] = round(time.monotonic() - began, 1)
        users = await sign_up_many(mesh, 4, "outage")
        load = Load(mesh, users, [])
        for user in users:
            await load._upload(user, None)
        await load.run(phases["before"], seconds)
        print(f"before: {phases['before'].summary()}", flush=True)

        victim = cluster.nodes[2]
        victim.kill()
        print(f"node 3 ({victim.address}) SIGKILLed", flush=True)
        hints_seen = 0
        back: float | None = None  # when node 3 answered CQL again
        drained: float | None = None  # when nodes 1 and 2 had delivered every hint, after that

        async def watch_hints() -> None:
            nonlocal hints_seen, drained
            while drained is None:
                pending = cluster.pending_hints(0) + cluster.pending_hints(1)
                hints_seen = max(hints_seen, pending)
                if back is not None and pending == 0:
                    drained = time.monotonic()
                await asyncio.sleep(0.25)

        watcher = asyncio.create_task(watch_hints())
        await load.run(phases["outage"], seconds, written)
        print(f"outage: {phases['outage'].summary()}", flush=True)

        restarting = asyncio.create_task(asyncio.to_thread(victim.start))
        began = time.monotonic()
        while not restarting.done():  # the load goes on while node 3 starts
            await load.run(phases["restarting"], 2.0, written)
        await restarting
        figures["node3_restart_seconds"] = round(time.monotonic() - began, 1)
        print(f"node 3 back in {figures['node3_restart_seconds']}s; {phases['restarting'].summary()}", flush=True)
        back = time.monotonic()
        await load.run(phases["after"], seconds)
        print(f"after: {phases['after'].summary()}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watcher, HINTS_DEADLINE_SECONDS)
        watcher.cancel()
        figures["hints_bytes_peak"] = hints_seen
        figures["hints_bytes_left"] = cluster.pending_hints(0) + cluster.pending_hints(1)
        figures["convergence_seconds"] = None if drained is None else round(drained - back, 1)
        print(f"hints: peak {hints_seen} bytes, delivered {figures['convergence_seconds']}s after node 3 was back")
    finally:
        await mesh.close()
    figures["phases"] = {name: phase.summary() for name, phase in phases.items()}
    figures["written_during_outage"] = {"photos": len(written.photos), "likes": len(set(written.likes))}
    try:
        cluster.nodes[0].stop()
        cluster.nodes[1].stop()
        figures["missing_on_node3_alone"] = missing_on_alone(cluster, mesh, written, 2)
    finally:
        cluster.stop()
    return figures


def verdict(figures: dict[str, object]) -> list[str]:
    """What must hold; each failure as a sentence."""
    problems = []
    phases = figures["phases"]
    assert isinstance(phases, dict)
    outage = phases["outage"]
    if not outage["ok"].get("get_photo") or not outage["ok"].get("like") or not outage["ok"].get("upload"):
        problems.append(f"reads or writes stopped during the outage: {outage['ok']}")
    if figures.get("convergence_seconds") is None:
        problems.append(f"hints not delivered within {HINTS_DEADLINE_SECONDS:.0f}s")
    if figures.get("missing_on_node3_alone") != {"photos": 0, "likes": 0}:
        problems.append(f"node 3 did not converge: missing {figures.get('missing_on_node3_alone')}")
    written = figures["written_during_outage"]
    assert isinstance(written, dict)
    if not written["photos"] or not written["likes"]:
        problems.append("nothing was written during the outage: the convergence check proves nothing")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.scale.cassandra_outage", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load phase")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    options = parser.parse_args()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="shutter-cassandra-cluster-"))
    figures = asyncio.run(run(options.seconds, workdir))
    text = json.dumps(figures, indent=2)
    print(text)
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(text + "\n")
    problems = verdict(figures)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
