"""`make profile`: where the view path spends its time, from py-spy samples under open-loop load.

Starts a fresh mesh, seeds a few users and photos (`--owners 250`: as many as `make bench` views, so
most views miss the view's caches), drives ViewPhoto (or, with `--call user`, ViewUserPhotos pages of
12; with `--call http`, ViewPhoto through the gateway with vegeta) at a fixed rate and records every
process on the path (view, photo, like, comment, follow, and the gateway for http) with py-spy at the
same time. Prints what a view cost — CPU seconds per 1,000 views per process (from /proc) and gRPC
calls per view (from the sampled access log) — then, per
process, the functions with the most samples (own time and cumulative), and writes the raw collapsed
stacks (flamegraph input) next to a summary under bench/out/profile-<stamp>/. CPU is a steadier
yardstick than throughput on a shared machine; `--no-spy` measures it without the sampler's own load.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.accounting import LOAD_GENERATORS, Accountant, StepCost
from bench.loadgen import build_protoset, run_ghz, run_vegeta
from bench.seed import Graph, seed_photos, seed_users
from tests.support.mesh import Mesh

ROOT = Path(__file__).resolve().parent.parent
PATH_PROCESSES = ("view", "photo", "like", "comment", "follow")
CALLS = {
    "photo": "shutter.view.v1.ViewService/ViewPhoto",
    "user": "shutter.view.v1.ViewService/ViewUserPhotos",
    "http": "shutter.view.v1.ViewService/ViewPhoto",
}
USER_PAGE = 12
RPC_LOG_EVERY = 50
PHOTOS_PER_OWNER = 2


def summarise(collapsed: Path, top: int) -> list[str]:
    """Own-time and cumulative leaders from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [
            frame.split(" (")[0] + " " + frame.split(" (")[-1].rsplit(":", 1)[0].split("/")[-1]
            for frame in stack.split(";")
        ]
        own[frames[-1]] += count
        for frame in set(frames):
            cumulative[frame] += count
    if not total:
        return ["  (no samples)"]
    lines = [f"  samples: {total}", "  own time:"]
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("  cumulative:")
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in cumulative.most_common(top)]
    return lines


def start_recorders(py_spy: str, pids: dict[str, int], out: Path, seconds: float) -> dict[str, subprocess.Popen[bytes]]:
    """One `py-spy record` per process, sampling for `seconds` into collapsed-stack files."""
    return {
        name: subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
             "--format", "raw", "--output", str(out / f"{name}.collapsed"), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name, pid in pids.items()
    }  # fmt: skip


def wait_for_recorders(recorders: dict[str, subprocess.Popen[bytes]]) -> None:
    for name, recorder in recorders.items():
        _, err = recorder.communicate(timeout=120)
        if recorder.returncode != 0:
            raise SystemExit(f"py-spy failed on {name}: {err.decode()[-500:]}")


def cost_lines(cost: StepCost, views: int, entry_from_mesh: bool) -> list[str]:
    """CPU per 1,000 views per process, and gRPC calls per view (served, and client + server)."""
    per_thousand = cost.per_thousand(views)
    mesh_cpu = sum(v for k, v in per_thousand.items() if k != LOAD_GENERATORS)
    lines = [f"CPU s per 1,000 views: {mesh_cpu:.3f} in the mesh"]
    lines += [f"  {name:<15} {value:.3f}" for name, value in sorted(per_thousand.items())]
    operations = cost.operations_per_request(views, "view", entry_from_mesh)
    lines.append(f"gRPC operations per view (client + server): {operations}")
    for process, methods in sorted(cost.calls.items()):
        calls = ", ".join(f"{method} {count / views:.3f}" for method, count in sorted(methods.items()))
        lines.append(f"  {process:<8} served per view: {calls}")
    return lines


async def profile(out: Path, rate: float, seconds: float, top: int, call: str, spy: bool, owners: int) -> str:
    py_spy = shutil.which("py-spy")
    if spy and not py_spy:
        raise SystemExit("py-spy not found: `make venv` installs it (requirements-dev.txt)")
    mesh = Mesh(out / "mesh", extra_env={"SHUTTER_LOG_LEVEL": "INFO", "SHUTTER_RPC_LOG_EVERY": str(RPC_LOG_EVERY)})
    processes = (*PATH_PROCESSES, "gateway") if call == "http" else PATH_PROCESSES
    try:
        await mesh.start()
        if call == "http":
            mesh.start_gateway()
            await mesh.wait_gateway()
        graph = Graph()
        graph.users = await seed_users(mesh.channel("user"), max(owners, 2), "prof", mesh.user_token, lambda n: None)
        await seed_photos(mesh.channel("photo"), graph, PHOTOS_PER_OWNER, random.Random(1), lambda n: None)
        gallery = Graph(users=graph.users[:1])
        await seed_photos(mesh.channel("photo"), gallery, USER_PAGE, random.Random(2), lambda n: None)
        viewer = graph.users[1]
        if call == "user":
            data = [{"user_id": str(graph.users[0].user_id), "viewer_id": str(viewer.user_id), "page_size": USER_PAGE}]
        else:
            data = [{"photo_id": str(pid), "user_id": str(viewer.user_id)} for pid, _ in graph.photos]
        metadata = {"authorization": f"Bearer {viewer.token}"}
        protoset = build_protoset(out)
        method = CALLS[call]
        targets = [
            {
                "method": "GET",
                "url": f"{mesh.gateway_url}/v1/views/photos/{pid}?userId={viewer.user_id}",
                "header": {"Authorization": [f"Bearer {viewer.token}"]},
            }
            for pid, _ in graph.photos
        ]

        def drive(name: str, seconds: float):  # type: ignore[no-untyped-def]
            if call == "http":
                return run_vegeta(name, targets, rate, seconds)
            return run_ghz(protoset, name, mesh.address("view"), method, rate, seconds, data, metadata)

        await asyncio.to_thread(drive, "warm-up", 2)
        pids = {name: mesh.processes[name].pid for name in processes}
        accountant = Accountant(pids, {name: mesh.logs / f"{name}.log" for name in PATH_PROCESSES})
        started = accountant.begin()
        recorders = start_recorders(py_spy, pids, out, seconds) if spy and py_spy else {}
        load = await asyncio.to_thread(drive, f"view {call}", seconds)
        cost = accountant.end(started)
        await asyncio.to_thread(wait_for_recorders, recorders)
    finally:
        await mesh.close()
    lines = [
        f"{method.rsplit('/', 1)[1]}{' via HTTP' if call == 'http' else ''} at {rate:.0f}/s for {seconds:.0f}s: "
        f"achieved {load.achieved_rps}/s, "
        f"p50 {load.p50_ms} ms, p99 {load.p99_ms} ms, errors {load.error_rate:.2%}; load average "
        + " / ".join(f"{v:.2f}" for v in os.getloadavg()),
        "",
        *cost_lines(cost, load.count, entry_from_mesh=call == "http"),
    ]
    if spy:
        for name in processes:
            lines += ["", f"{name}:", *summarise(out / f"{name}.collapsed", top)]
    summary = "\n".join(lines)
    (out / "summary.txt").write_text(summary + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=150)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument(
        "--call",
        choices=sorted(CALLS),
        default="photo",
        help="ViewPhoto, ViewUserPhotos pages, or ViewPhoto through the gateway",
    )
    parser.add_argument("--no-spy", dest="spy", action="store_false", help="measure cost without py-spy")
    parser.add_argument(
        "--owners",
        type=int,
        default=3,
        help=f"users with {PHOTOS_PER_OWNER} photos each, all viewed in turn: a few keep the view's caches warm, "
        "`make bench`'s 250 (500 photos) make most views miss them",
    )
    options = parser.parse_args()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "bench" / "out" / f"profile-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    summary = profile(out, options.rate, options.seconds, options.top, options.call, options.spy, options.owners)
    print(asyncio.run(summary))
    print(f"\nraw stacks and summary in {out}")


if __name__ == "__main__":
    main()
