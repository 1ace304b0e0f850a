"""`python -m bench [--quick]`: baselines, a fresh mesh, a seeded graph, open-loop load, a report.

Steps: (1) baselines — a bare grpc.aio echo and the same answer through the services' runtime (ghz; see
bench.baselines), and a bare ASGI hello (vegeta), rate stepped;
(2) a fresh mesh on embedded defaults, idle RSS; (3) seed users, a power-law follow graph, photos,
then wait for the event consumers to catch up (bench.backlog; again after the mix);
(4) view via gRPC and via HTTP alone, and a page of 12 of a user's photos via gRPC, rate stepped;
(5) the design's mix (views 20 : uploads 1, plus likes, comments, follows, feed reads, searches)
rate stepped; (6) freshness probes (post→feed, post→searchable) and fan-out throughput at the
highest sustained mix; (7) peak RSS; (8) the object store: uploads and downloads (streamed vs
presigned) on the S3 path against SeaweedFS's own PUT/GET rate (bench/object_store.py); (9) what
telemetry costs (bench.telemetry); (10) the abuse limiter's cost on views and uploads, limits on
against off (bench.limits_cost); report, with per-process CPU and pipeline lags read from the
mesh's metrics.

Every curve climbs a ×1.6 ladder until a step breaks (stepping down instead when its first step
breaks), then bisects to within 10% (bench.stepping); the mix is warmed up first like the others;
each mesh step also records CPU seconds per process and gRPC calls served (bench.accounting).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from bench import limits_cost, live_probe, object_store
from bench.accounting import Accountant, StepCost
from bench.backlog import wait_for_consumers
from bench.capacity import capacity_table
from bench.loadgen import Measurement, build_protoset, run_ghz, run_vegeta
from bench.probes import probe_fanout_throughput, probe_freshness
from bench.processes import Baseline, memory_kib, wait_for_port, wait_for_serving
from bench.report import (
    BRACKET_HEADERS,
    MEASUREMENT_HEADERS,
    RATIO_HEADERS,
    PathCost,
    Ratio,
    bracket_rows,
    cost_tables,
    markdown_table,
    measurement_rows,
    plot_latency,
    ratio_rows,
    ratio_value,
    utilisation_table,
    write_json,
)
from bench.seed import TAGS, Graph, power_law_follows, seed_follows, seed_photos, seed_users, small_jpeg
from bench.stepping import Ceiling, Limits, Trial, find_ceiling, geometric_rates, mix_holds
from bench.telemetry import MeshReadings, cpu_used, pipeline_lags, report_lines, telemetry_cost
from services.runtime.auth import TokenAuthority
from services.runtime.mesh import free_port
from services.runtime.topology import SERVICE_NAMES
from tests.support.mesh import AUTH_SECRET, Mesh

ROOT = Path(__file__).resolve().parent.parent

# The design's mix, relative to views (views 20 : uploads 1).
MIX = {
    "view": 1.0,
    "upload": 1 / 20,
    "like": 1 / 10,
    "comment": 1 / 20,
    "follow": 1 / 40,
    "feed": 1 / 5,
    "search": 1 / 10,
}
# The mix's reads: each must meet the p99 limit for a step to hold (the issue's "p99 ≤ 50 ms on reads").
MIX_READS = ("view", "feed", "search")


@dataclass(frozen=True)
class Profile:
    users: int
    mean_follows: int
    large_accounts: int
    large_threshold: int
    photos_per_user: int
    step_seconds: float
    single_rates: list[float]
    baseline_rates: list[float]
    mix_rates: list[float]
    probe_posts: int
    probe_rate: float
    # Server-Sent Events watchers on the gateway, and likes (at live_rate/s) timed to their owners' streams.
    live_watchers: int = 20
    live_likes: int = 10
    live_rate: float = 5
    # Users given a full page of photos for ViewUserPhotos (page of USER_PAGE).
    gallery_users: int = 4
    # A baseline's or single path's ladder goes on past its rates (×1.6) until a step breaks or this rate
    # (a path that holds its top step has no ceiling to compare; the mix keeps its own rates).
    ladder_max_rate: float | None = None
    # Bisect each ceiling until broke ÷ held ≤ this (inf: the ladder alone).
    precision: float = float("inf")
    # A curve whose first step breaks steps down by this factor (None: it does not), to `min_rate` at least.
    descend_by: float | None = None
    min_rate: float = 10


QUICK = Profile(
    users=30,
    mean_follows=4,
    large_accounts=1,
    large_threshold=15,
    photos_per_user=1,
    step_seconds=1.5,
    single_rates=[100],
    baseline_rates=[400],
    mix_rates=[40],
    probe_posts=4,
    probe_rate=4,
    gallery_users=1,
)
FULL = Profile(
    users=1500,
    mean_follows=15,
    large_accounts=3,
    large_threshold=400,
    photos_per_user=2,
    step_seconds=8,
    single_rates=geometric_rates(50, 1.6, 9),
    baseline_rates=geometric_rates(250, 1.6, 9),
    mix_rates=geometric_rates(40, 1.6, 7),
    probe_posts=40,
    probe_rate=5,
    gallery_users=20,
    live_watchers=1000,
    live_likes=200,
    live_rate=10,
    ladder_max_rate=80_000,
    precision=1.1,
    descend_by=1.6,
)

# The live phase's time beyond its likes: opening the streams, its mix's margin, closing.
LIVE_MARGIN_SECONDS = 180

# What the issue asks of each path, as ratios of ceilings measured in the same run.
RATIOS = [
    Ratio("view grpc ÷ echo", "view grpc", "echo grpc (baseline)", 0.5),
    Ratio("view http ÷ view grpc", "view http", "view grpc", 0.7),
    Ratio("view user photos (page of 12) ÷ echo", "view user photos grpc", "echo grpc (baseline)", 0.25),
    Ratio("view http ÷ hello", "view http", "hello asgi (baseline)", 0.25),
    # No target: where the view's distance from the echo lies, in the runtime every service runs on or in the view.
    Ratio("runtime floor ÷ echo", "runtime floor grpc (baseline)", "echo grpc (baseline)", None),
    Ratio("view grpc ÷ runtime floor", "view grpc", "runtime floor grpc (baseline)", None),
    # No target: the most any gateway of uvicorn, grpc.aio and JSON could reach (bench.baselines), and ours against it.
    Ratio("gateway floor ÷ view grpc", "view http via the gateway floor (baseline)", "view grpc", None),
    Ratio("view http ÷ gateway floor", "view http", "view http via the gateway floor (baseline)", None),
]
# The floor baseline's caller (any user id: it reads nothing).
FLOOR_VIEWER = 1
# Views/s the design mix must sustain (twice the 2026-11-30 measurement of 102/s).
MIX_TARGET_VIEWS = 200
# ViewUserPhotos pages of this many photos (the issue's "page of 12").
USER_PAGE = 12
# Access-log sampling in the bench mesh: counts of calls served, to within this per method and step.
RPC_LOG_EVERY = 50


class Bench:
    def __init__(self, profile: Profile, out: Path, quick: bool) -> None:
        self.profile = profile
        self.out = out
        self.quick = quick
        self.limits = Limits(p99_ms=50.0)
        self.protoset = build_protoset(out)
        self.curves: dict[str, list[Measurement]] = {}
        self.best: dict[str, Measurement | None] = {}
        self.ceilings: dict[str, Ceiling[Measurement]] = {}
        self.costs: dict[str, dict[float, StepCost]] = {}
        self.paths: dict[str, PathCost] = {}
        self.accountant: Accountant | None = None
        self.gallery: list[int] = []
        self.mix_ceiling: Ceiling[dict[str, Measurement]] = Ceiling()
        self.mix_costs: dict[float, StepCost] = {}
        self.load_average: dict[str, tuple[float, float, float]] = {"start": os.getloadavg()}
        self.results: dict[str, object] = {"profile": asdict(profile), "quick": quick, "cores": os.cpu_count()}
        self.run_id = f"{int(time.time()) % 100000}{random.randrange(100)}"

    def log(self, message: str) -> None:
        tqdm.write(f"[bench {time.strftime('%H:%M:%S')}] {message}")

    @property
    def open_ended(self) -> dict[str, object]:
        """The ladder's extension past a curve's rates (`Profile.ladder_max_rate`), for find_ceiling."""
        extend = self.profile.ladder_max_rate
        return {"extend_by": 1.6, "max_rate": extend} if extend else {}

    def stepped(  # type: ignore[no-untyped-def]
        self, name: str, rates: list[float], run_at, limits: Limits | None = None, **ladder: object
    ) -> Measurement | None:
        """Find the curve's ceiling (ladder, then bisection); with an accountant, cost each step."""
        limits = limits or self.limits
        bar = tqdm(desc=name, unit="step", leave=False)
        costs: dict[float, StepCost] = {}

        def measured(rate: float) -> Measurement:
            if self.accountant is None:
                return run_at(rate)
            started = self.accountant.begin()
            measurement = run_at(rate)
            costs[rate] = self.accountant.end(started)
            return measurement

        def on_step(trial: Trial[Measurement]) -> None:
            m = trial.result
            bar.update(1)
            self.log(
                f"{name:<22} offered {m.offered_rps:>7} achieved {m.achieved_rps:>8} "
                f"p99 {m.p99_ms:>8} ms errors {m.error_rate:.2%} {'held' if trial.held else 'broke'}"
            )

        ceiling = find_ceiling(
            measured,
            rates,
            limits.sustained,
            on_step,
            precision=self.profile.precision,
            descend_by=self.profile.descend_by,
            min_rate=self.profile.min_rate,
            **ladder,  # type: ignore[arg-type]
        )
        bar.close()
        self.ceilings[name] = ceiling
        self.curves[name] = [t.result for t in sorted(ceiling.trials, key=lambda t: t.rate)]
        self.best[name] = ceiling.held.result if ceiling.held else None
        if costs:
            self.costs[name] = costs
        return self.best[name]

    def path_cost(self, name: str, entry: str, entry_from_mesh: bool) -> None:
        """What the highest held step of a mesh curve cost, per request and per process."""
        held = self.best.get(name)
        cost = self.costs.get(name, {}).get(held.offered_rps) if held else None
        if held is None or cost is None:
            return
        self.paths[name] = PathCost(
            requests=held.count,
            ops_per_request=cost.operations_per_request(held.count, entry, entry_from_mesh),
            cpu_per_thousand=cost.per_thousand(held.count),
            utilisation=cost.utilisation(),
            calls=cost.calls,
        )

    # -- phases -------------------------------------------------------------------------------

    def baselines(self) -> None:
        p = self.profile
        with Baseline("echo", self.out) as echo:
            self.stepped(
                "echo grpc (baseline)",
                p.baseline_rates,
                lambda r: run_ghz(
                    self.protoset,
                    "echo",
                    f"127.0.0.1:{echo.port}",
                    "shutter.view.v1.ViewService/ViewPhoto",
                    r,
                    p.step_seconds,
                    data=[{"photo_id": str(i), "user_id": "1"} for i in range(1, 50)],
                ),
                **self.open_ended,
            )
            self.results["baseline_echo_rss_kib"] = memory_kib(echo.pid)
        floor_env = {
            "SHUTTER_AUTH_SECRET": AUTH_SECRET,
            "SHUTTER_DATA_DIR": str(self.out / "floor"),
            "SHUTTER_VIEW_METRICS_PORT": str(free_port()),
            "SHUTTER_LOG_LEVEL": "INFO",
            "SHUTTER_RPC_LOG_EVERY": str(RPC_LOG_EVERY),
        }
        token = TokenAuthority(AUTH_SECRET, 3600).issue_user_token(FLOOR_VIEWER)[0]
        with Baseline("floor", self.out, floor_env) as floor:
            wait_for_serving(floor.port)
            self.stepped(
                "runtime floor grpc (baseline)",
                p.baseline_rates,
                lambda r: run_ghz(
                    self.protoset,
                    "floor",
                    f"127.0.0.1:{floor.port}",
                    "shutter.view.v1.ViewService/ViewPhoto",
                    r,
                    p.step_seconds,
                    data=[{"photo_id": str(i), "user_id": str(FLOOR_VIEWER)} for i in range(1, 50)],
                    metadata={"authorization": f"Bearer {token}"},
                ),
                **self.open_ended,
            )
        with Baseline("hello", self.out) as hello:
            self.stepped(
                "hello asgi (baseline)",
                p.baseline_rates,
                lambda r: run_vegeta(
                    "hello", [{"method": "GET", "url": f"http://127.0.0.1:{hello.port}/"}], r, p.step_seconds
                ),
                **self.open_ended,
            )

    async def seed(self, mesh: Mesh) -> Graph:
        p = self.profile
        rng = random.Random(42)
        graph = Graph()
        with tqdm(total=p.users, desc="seed users", unit="user") as bar:
            graph.users = await seed_users(mesh.channel("user"), p.users, self.run_id, mesh.user_token, bar.update)
        graph.followers = power_law_follows(graph.users, p.mean_follows, p.large_accounts, p.large_threshold + 5, rng)
        edges = sum(len(v) for v in graph.followers.values())
        with tqdm(total=edges, desc="seed follows", unit="follow") as bar:
            await seed_follows(mesh.channel("follow"), graph, bar.update)
        with tqdm(total=p.users * p.photos_per_user, desc="seed photos", unit="photo") as bar:
            await seed_photos(mesh.channel("photo"), graph, p.photos_per_user, rng, bar.update)
        # A few users with a full page for ViewUserPhotos; their extra photos stay out of graph.photos.
        gallery = Graph(users=graph.users[-p.gallery_users :])
        extra = max(USER_PAGE - p.photos_per_user, 0)
        with tqdm(total=len(gallery.users) * extra, desc="seed galleries", unit="photo") as bar:
            await seed_photos(mesh.channel("photo"), gallery, extra, rng, bar.update)
        self.gallery = [u.user_id for u in gallery.users]
        counts = sorted(graph.follower_counts(), reverse=True)
        self.results["graph"] = {
            "users": len(graph.users),
            "follows": edges,
            "photos": len(graph.photos),
            "max_followers": counts[0],
            "median_followers": counts[len(counts) // 2],
            "large_accounts": sum(1 for c in counts if c > p.large_threshold),
            "large_threshold": p.large_threshold,
            "follower_counts": counts,
        }
        self.log(f"seeded {len(graph.users)} users, {edges} follows, {len(graph.photos)} photos")
        return graph

    def _ghz_ops(self, mesh: Mesh, graph: Graph) -> dict[str, tuple[str, str, object, dict[str, str]]]:
        """operation -> (address, method, data, metadata) for ghz."""
        users = graph.users
        photo_ids = [str(pid) for pid, _ in graph.photos[:500]]

        def md(index: int) -> dict[str, str]:
            return {"authorization": f"Bearer {users[index].token}"}

        viewer, liker, commenter, follower, reader, uploader = (users[i % len(users)] for i in range(1, 7))
        image = base64.b64encode(small_jpeg(3)).decode()
        return {
            "view": (
                mesh.address("view"),
                "shutter.view.v1.ViewService/ViewPhoto",
                [{"photo_id": p, "user_id": str(viewer.user_id)} for p in photo_ids],
                md(1),
            ),
            "like": (
                mesh.address("like"),
                "shutter.like.v1.LikeService/LikePhoto",
                [{"photo_id": p, "user_id": str(liker.user_id)} for p in photo_ids],
                md(2),
            ),
            "comment": (
                mesh.address("comment"),
                "shutter.comment.v1.CommentService/PostComment",
                [{"photo_id": p, "user_id": str(commenter.user_id), "text": "lovely light"} for p in photo_ids],
                md(3),
            ),
            "follow": (
                mesh.address("follow"),
                "shutter.follow.v1.FollowService/Follow",
                [
                    {"follower_id": str(follower.user_id), "followee_id": str(u.user_id)}
                    for u in users
                    if u is not follower
                ],
                md(4),
            ),
            "feed": (
                mesh.address("feed"),
                "shutter.feed.v1.FeedService/GetFeed",
                [{"user_id": str(reader.user_id), "page_size": 20}],
                md(5),
            ),
            "search": (
                mesh.address("search"),
                "shutter.search.v1.SearchService/SearchPhotos",
                [{"tag": t, "page_size": 20} for t in TAGS],
                md(5),
            ),
            "upload": (
                mesh.address("photo"),
                "shutter.photo.v1.PhotoService/UploadPhoto",
                [
                    {"metadata": {"user_id": str(uploader.user_id), "title": "bench upload", "tags": ["bench"]}},
                    {"chunk": image},
                ],
                md(6),
            ),
        }

    def single_paths(self, mesh: Mesh, graph: Graph) -> None:
        p = self.profile
        ops = self._ghz_ops(mesh, graph)
        address, method, data, metadata = ops["view"]
        self.stepped(
            "view grpc",
            p.single_rates,
            lambda r: run_ghz(self.protoset, "view grpc", address, method, r, p.step_seconds, data, metadata),
            **self.open_ended,
        )
        self.path_cost("view grpc", "view", entry_from_mesh=False)
        viewer = graph.users[1 % len(graph.users)]
        gateway = f"http://127.0.0.1:{mesh.settings.gateway_port}"
        targets = [
            {
                "method": "GET",
                "url": f"{gateway}/v1/views/photos/{pid}?userId={viewer.user_id}",
                "header": {"Authorization": [f"Bearer {viewer.token}"]},
            }
            for pid, _ in graph.photos[:500]
        ]
        self.stepped(
            "view http",
            p.single_rates,
            lambda r: run_vegeta("view http", targets, r, p.step_seconds),
            **self.open_ended,
        )
        self.path_cost("view http", "view", entry_from_mesh=True)
        with Baseline("gateway-floor", self.out, mesh.env) as floor:
            floor_targets = [
                {**target, "url": target["url"].replace(gateway, f"http://127.0.0.1:{floor.port}")}
                for target in targets
            ]
            self.stepped(
                "view http via the gateway floor (baseline)",
                p.single_rates,
                lambda r: run_vegeta("view http floor", floor_targets, r, p.step_seconds),
                **self.open_ended,
            )
        pages = [
            {"user_id": str(owner), "viewer_id": str(viewer.user_id), "page_size": USER_PAGE} for owner in self.gallery
        ]
        call = "shutter.view.v1.ViewService/ViewUserPhotos"
        self.stepped(
            "view user photos grpc",
            p.single_rates,
            lambda r: run_ghz(self.protoset, "view user photos", address, call, r, p.step_seconds, pages, metadata),
            **self.open_ended,
        )
        self.path_cost("view user photos grpc", "view", entry_from_mesh=False)

    def _mix_step(self, pool: ThreadPoolExecutor, ops: dict, rate: float, seconds: float) -> dict[str, Measurement]:  # type: ignore[type-arg]
        """Every operation of the mix for `seconds`, views at `rate`/s and the rest in proportion."""
        futures = {
            name: pool.submit(
                run_ghz,
                self.protoset,
                f"mix {name}",
                *ops[name][:2],
                max(rate * share, 1),
                seconds,
                ops[name][2],
                ops[name][3],
            )
            for name, share in MIX.items()
        }
        return {name: future.result() for name, future in futures.items()}

    def mixed(self, mesh: Mesh, graph: Graph) -> float | None:
        """Every operation at once, rates in the design's proportions; finds the view rate's ceiling."""
        p = self.profile
        ops = self._ghz_ops(mesh, graph)
        costs: dict[float, StepCost] = {}

        def run_mix(rate: float) -> dict[str, Measurement]:
            started = self.accountant.begin() if self.accountant else None
            step = self._mix_step(pool, ops, rate, p.step_seconds)
            if self.accountant and started:
                costs[rate] = self.accountant.end(started)
            return step

        def holds(step: dict[str, Measurement]) -> bool:
            return mix_holds(step, MIX_READS, self.limits)

        def on_step(trial: Trial[dict[str, Measurement]]) -> None:
            bar.update(1)
            self.log(
                f"mix at {trial.rate}/s views ({'held' if trial.held else 'broke'}): "
                + ", ".join(f"{n} p99 {m.p99_ms}ms err {m.error_rate:.1%}" for n, m in trial.result.items())
            )

        with ThreadPoolExecutor(len(MIX)) as pool, tqdm(desc="mix", unit="step") as bar:
            ceiling = find_ceiling(
                run_mix,
                p.mix_rates,
                holds,
                on_step,
                precision=p.precision,
                descend_by=p.descend_by,
                min_rate=p.min_rate,
            )
        trials = sorted(ceiling.trials, key=lambda t: t.rate)
        for name in MIX:
            self.curves[f"mix {name}"] = [t.result[name] for t in trials]
            self.best[f"mix {name}"] = ceiling.held.result[name] if ceiling.held else None
        self.mix_ceiling = ceiling
        self.mix_costs = costs
        sustained = ceiling.held.rate if ceiling.held else None
        self.results["mix_sustained_view_rate"] = sustained
        self.results["mix_bracket"] = ceiling.bracket()
        return sustained

    async def live(self, mesh: Mesh, graph: Graph, mix_rate: float | None) -> None:
        """`live_watchers` SSE watchers on the gateway (bench/live_probe.py) while the design mix runs at its
        highest sustained rate: memory per watcher, and like → owner's stream delivery."""
        p = self.profile
        watchers = [live_probe.Watcher(u.user_id, u.token) for u in graph.users[: p.live_watchers]]
        watched = {w.user_id for w in watchers}
        owners: dict[int, int] = {}
        for photo_id, author_id in graph.photos:
            if author_id in watched and author_id not in owners:
                owners[author_id] = photo_id
        targets = list(owners.items())[:20]
        likers = [live_probe.Watcher(u.user_id, u.token) for u in graph.users[p.live_watchers :][:20]]
        seconds = p.live_likes / p.live_rate + 30  # opening the streams, the likes, a margin
        self.log(f"live: {len(watchers)} SSE watchers, {p.live_likes} likes at {p.live_rate}/s, mix at {mix_rate}/s")
        ops = self._ghz_ops(mesh, graph)
        with ThreadPoolExecutor(len(MIX)) as pool:
            mix = (
                asyncio.get_running_loop().run_in_executor(None, self._mix_step, pool, ops, mix_rate, seconds)
                if mix_rate
                else None
            )
            pids = {name: mesh.processes[name].pid for name in ("gateway", "notification")}
            result = await live_probe.measure(
                mesh.gateway_url,
                pids,
                mesh.channel("like"),
                watchers,
                targets,
                likers,
                p.live_likes,
                p.live_rate,
                random.Random(11),
            )
            if mix is not None:
                await mix
        self.results["live"] = {**result.summary(), "mix_view_rate": mix_rate}

    async def live_within(self, mesh: Mesh, graph: Graph, mix_rate: float | None) -> None:
        """`live`, given up (and the report written without it) past its budget: one full run hung after the
        streams had closed, with every process idle. What each task was awaiting goes to live-tasks.txt."""
        p = self.profile
        budget = p.live_likes / p.live_rate + LIVE_MARGIN_SECONDS
        live = asyncio.create_task(self.live(mesh, graph, mix_rate), name="live")
        done, _ = await asyncio.wait({live}, timeout=budget)
        if live in done:
            live.result()
            return
        with (self.out / "live-tasks.txt").open("w") as stacks:  # before cancelling: where each task waits
            for task in asyncio.all_tasks():
                print(f"--- {task.get_name()}", file=stacks)
                task.print_stack(file=stacks)
        live.cancel()
        await asyncio.wait({live}, timeout=10)
        self.log(f"live: not done in {budget:.0f} s, left out (what it awaited: live-tasks.txt)")

    async def catch_up(self, mesh: Mesh, moment: str) -> None:
        """Let the event consumers finish the last phase's backlog before the next phase measures anything."""
        drained = await wait_for_consumers(mesh.settings.nats_url, 60 if self.quick else 900, f"events {moment}")
        self.log(
            f"events {moment}: {drained.events_at_start} left, handled in {drained.seconds:.1f} s"
            + ("" if drained.caught_up else " (gave up waiting)")
        )
        self.results.setdefault("backlog", {})[moment] = drained.summary()  # type: ignore[index]

    async def freshness(self, mesh: Mesh, graph: Graph) -> None:
        p = self.profile
        followers = graph.followers
        small = [u for u in graph.users if 0 < len(followers.get(u.user_id, [])) <= p.large_threshold]
        author = max(small, key=lambda u: len(followers[u.user_id]))
        by_id = {u.user_id: u for u in graph.users}
        follower = by_id[followers[author.user_id][0]]
        self.log(
            f"freshness probes: author with {len(followers[author.user_id])} followers, "
            f"{p.probe_posts} posts at {p.probe_rate}/s"
        )
        fresh = await probe_freshness(
            mesh.channel("photo"),
            mesh.channel("feed"),
            mesh.channel("search"),
            author,
            follower,
            p.probe_posts,
            p.probe_rate,
            self.run_id,
        )
        fanout = await probe_fanout_throughput(
            mesh.channel("photo"), mesh.channel("feed"), author, [by_id[f] for f in followers[author.user_id]]
        )
        fresh.fanout_entries_per_s = fanout
        self.results["freshness"] = fresh.summary()

    # -- report -------------------------------------------------------------------------------

    def mix_utilisation(self) -> dict[str, dict[str, float]]:
        """Cores busy per process at the mix's highest held step and its lowest broken one."""
        steps: dict[str, dict[str, float]] = {}
        for label, trial in (("held", self.mix_ceiling.held), ("broke", self.mix_ceiling.broke)):
            cost = self.mix_costs.get(trial.rate) if trial else None
            if trial and cost:
                steps[f"{label} at {trial.rate:g} views/s"] = cost.utilisation()
        return steps

    def ratios(self) -> dict[str, dict[str, float | None]]:
        return {ratio.name: ratio_value(self.ceilings, ratio) for ratio in RATIOS}

    def write(self) -> None:
        self.results["sustained"] = {k: (m.to_dict() if m else None) for k, m in self.best.items()}
        self.results["ratios"] = self.ratios()
        self.results["curves"] = {k: [m.to_dict() for m in v] for k, v in self.curves.items()}
        self.results["brackets"] = {k: c.bracket() for k, c in self.ceilings.items()}
        self.results["paths"] = {k: cost.to_dict() for k, cost in self.paths.items()}
        self.results["load_average"] = self.load_average
        write_json(self.out, self.results)
        plot = plot_latency(self.out, self.curves)
        load = ", ".join(f"{phase} {' / '.join(f'{v:.2f}' for v in avg)}" for phase, avg in self.load_average.items())
        p = self.profile
        descent = (
            f" (when its first step breaks, it steps down ÷{p.descend_by} to {p.min_rate:.0f}/s until one holds)"
            if p.descend_by
            else ""
        )
        lines = [
            f"# Shutter bench — {self.results['started']}",
            "",
            f"Mode: {'quick' if self.quick else 'full'}; "
            f"{os.cpu_count()} cores; open-loop (ghz --rps --async, vegeta); a step is sustained when p99 ≤ "
            f"{self.limits.p99_ms:.0f} ms (every read: views, and in the mix feed and search reads too; the mix's "
            "writes ≤ 1 s), errors ≤ 1% and ≥ 90% of the offered rate is achieved. "
            f"Each curve is warmed up at its first rate and climbs ×1.6 until a step breaks{descent}, then "
            "bisects until the step that broke is within 10% of the one that held.",
            "",
            f"Load average (1 / 5 / 15 min): {load}.",
            "",
            "## Ratios to this run's baselines",
            "",
            markdown_table(RATIO_HEADERS, ratio_rows(self.ceilings, RATIOS)),
            "",
            f"Design mix: views held at {self.results.get('mix_sustained_view_rate')}/s, "
            f"broke at {(self.results.get('mix_bracket') or (None, None))[1]}/s "
            f"(target ≥ {MIX_TARGET_VIEWS}/s with reads at p99 ≤ {self.limits.p99_ms:.0f} ms).",
            "",
            "## Ceilings",
            "",
            markdown_table(BRACKET_HEADERS, bracket_rows({**self.ceilings, "mix (view rate)": self.mix_ceiling})),
            "",
            "## Cost per request at each path's highest held step",
            "",
            "gRPC operations count each call served once, and once more for its client side when a mesh "
            "process made it (every downstream call; the gateway's call into view). CPU from /proc, per "
            "process tree; the load generators share the machine and are listed too.",
            "",
            cost_tables(self.paths),
            "",
            "## The mix: cores busy per process (which saturates first)",
            "",
            utilisation_table(self.mix_utilisation()),
            "",
        ]
        fresh = self.results.get("freshness") or {}
        lines += [
            "",
            "## Freshness and fan-out",
            "",
            markdown_table(
                ["measure", "value", "target"],
                [
                    [
                        "post→feed p50 / p99 (ms)",
                        f"{fresh.get('post_to_feed_p50_ms')} / {fresh.get('post_to_feed_p99_ms')}",
                        "p99 ≤ 1000",
                    ],
                    [
                        "post→searchable p50 / p99 (ms)",
                        f"{fresh.get('post_to_search_p50_ms')} / {fresh.get('post_to_search_p99_ms')}",
                        "p99 ≤ 1000",
                    ],
                    [
                        "missed (feed / search) of probes",
                        f"{fresh.get('missed_feed')} / {fresh.get('missed_search')} of {fresh.get('probes')}",
                        "0",
                    ],
                    ["fan-out feed entries/s (one post, lower bound)", fresh.get("fanout_entries_per_s"), ""],
                    *(
                        [f"events left {moment}, s to handle them", f"{d['events_at_start']}, {d['seconds']}", ""]
                        for moment, d in (self.results.get("backlog") or {}).items()  # type: ignore[union-attr]
                    ),
                ],
            ),
            "",
            "Each phase starts once every consumer has caught up with the one before (bench.backlog).",
        ]
        live = self.results.get("live") or {}
        lines += [
            "",
            "## Live updates (Server-Sent Events)",
            "",
            markdown_table(
                ["measure", "value", "target"],
                [
                    [
                        "watchers open on the gateway (mix views/s meanwhile)",
                        "{watchers} ({mix_view_rate})".format(**live) if live else None,
                        "1000",
                    ],
                    ["gateway KiB per watcher", live.get("gateway_kib_per_watcher"), ""],
                    ["notification service KiB per watcher", live.get("notification_kib_per_watcher"), ""],
                    [
                        "like → owner's stream p50 / p99 (ms)",
                        "{delivery_ms_p50} / {delivery_ms_p99}".format(**live) if live else None,
                        "p99 ≤ 1000",
                    ],
                    ["missed (not seen in 10 s) of likes", f"{live.get('missed')} of {live.get('likes')}", "0"],
                ],
            ),
        ]
        lines += [
            "",
            "## Every step",
            "",
            markdown_table(MEASUREMENT_HEADERS, measurement_rows(self.curves, self.best)),
        ]
        rss = self.results.get("rss_kib", {})
        lines += [
            "",
            "## Memory (MiB)",
            "",
            markdown_table(
                ["process", "idle RSS", "peak RSS", "idle ≤ 100 MB"],
                [
                    [
                        name,
                        round(v.get("idle", 0) / 1024, 1),
                        round(v.get("peak", 0) / 1024, 1),
                        "yes" if v.get("idle", 0) <= 100 * 1024 else "no",
                    ]
                    for name, v in rss.items()
                ],
            ),
        ]
        if self.results.get("object_store"):
            lines += ["", *object_store.report_section(self.results["object_store"])]  # type: ignore[arg-type]
        if self.results.get("limits"):
            lines += ["", *limits_cost.report_section(self.results["limits"])]  # type: ignore[arg-type]
        lines += report_lines(self.results)
        lines += ["", "## Capacity model", "", capacity_table(self.results), "", f"![latency]({plot.name})", ""]
        (self.out / "report.md").write_text("\n".join(lines))


async def run_mesh_phases(bench: Bench) -> None:
    p = bench.profile
    mesh = Mesh(
        bench.out / "mesh",
        extra_env={
            "SHUTTER_FEED_LARGE_ACCOUNT_FOLLOWERS": str(p.large_threshold),
            # The access log at 1 line in RPC_LOG_EVERY per method: the calls each process served,
            # counted per step (bench.accounting), at a cost the bench cannot see.
            "SHUTTER_LOG_LEVEL": "INFO",
            "SHUTTER_RPC_LOG_EVERY": str(RPC_LOG_EVERY),
        },
    )
    try:
        bench.log("starting a fresh mesh")
        await mesh.start()
        mesh.start_gateway()
        wait_for_port(mesh.settings.gateway_port)
        await asyncio.sleep(1)
        bench.load_average["mesh up"] = os.getloadavg()
        bench.results["rss_kib"] = {
            name: {"idle": memory_kib(proc.pid).get("VmRSS", 0)} for name, proc in mesh.processes.items()
        }
        processes = (*SERVICE_NAMES, "gateway")
        started = await MeshReadings.take(mesh, processes)
        graph = await bench.seed(mesh)
        await bench.catch_up(mesh, "after seeding")
        bench.accountant = Accountant(
            {name: proc.pid for name, proc in mesh.processes.items()},
            {name: mesh.logs / f"{name}.log" for name in mesh.services},
        )
        await asyncio.to_thread(bench.single_paths, mesh, graph)
        await asyncio.to_thread(bench.mixed, mesh, graph)
        await bench.catch_up(mesh, "after the mix")
        before_freshness = await MeshReadings.take(mesh, processes)
        await bench.freshness(mesh, graph)
        ended = await MeshReadings.take(mesh, processes)
        bench.results["from_metrics"] = {
            "cpu_seconds": cpu_used(started, ended),
            "lags": pipeline_lags(before_freshness, ended),
        }
        await bench.live_within(mesh, graph, bench.results.get("mix_sustained_view_rate"))  # type: ignore[arg-type]
        bench.load_average["end"] = os.getloadavg()
        for name, proc in mesh.processes.items():
            bench.results["rss_kib"][name]["peak"] = memory_kib(proc.pid).get("VmHWM", 0)  # type: ignore[index]
    finally:
        await mesh.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run, well under a minute")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument(
        "--no-object-store", dest="object_store", action="store_false", help="skip the S3 phase (view-path runs)"
    )
    parser.add_argument(
        "--mesh-only",
        action="store_true",
        help="the mesh phases only (paths, mix, live, freshness): a before/after comparison of a change in 15 minutes",
    )
    options = parser.parse_args()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = options.out / (stamp + ("-quick" if options.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(QUICK if options.quick else FULL, out, options.quick)
    bench.results["started"] = stamp
    started = time.monotonic()
    bench.baselines()
    asyncio.run(run_mesh_phases(bench))
    if options.mesh_only:
        bench.results["elapsed_s"] = round(time.monotonic() - started, 1)
        bench.write()
        print(f"\nreport: {out / 'report.md'}")
        print(json.dumps(bench.results["ratios"]))
        return
    if options.object_store:
        sizes = object_store.QUICK if options.quick else object_store.FULL
        bench.log("object store: SeaweedFS baselines, then uploads and downloads on the S3 path")
        bench.results["object_store"] = asyncio.run(object_store.measure(out / "object-store", sizes, bench.log))
    rounds, seconds, social = (1, 2.0, 5) if options.quick else (8, 5.0, 20)
    bench.results["telemetry"] = asyncio.run(telemetry_cost(out, seconds, rounds, bench.log, social))
    bench.log("abuse limits: views and uploads with the limiter on against off")
    limit_sizes = limits_cost.QUICK if options.quick else limits_cost.FULL
    bench.results["limits"] = asyncio.run(limits_cost.measure(out / "limits", limit_sizes, bench.log))
    bench.results["elapsed_s"] = round(time.monotonic() - started, 1)
    bench.write()
    latest = options.out / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(out.name)
    print(f"\nreport: {out / 'report.md'}\nresults: {out / 'results.json'}\nplot: {out / 'latency.png'}")
    limits = bench.results["limits"]
    costs = {f"limiter_{op}_cpu_cost": limits[op]["cpu_cost"] for op in ("view", "upload")}  # type: ignore[index]
    store_ratios = bench.results["object_store"]["ratios"] if options.object_store else {}  # type: ignore[index]
    print(json.dumps({**bench.results["ratios"], **store_ratios, **costs}))  # type: ignore[dict-item]


if __name__ == "__main__":
    sys.exit(main())
