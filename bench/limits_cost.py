"""What the abuse limits cost: views and uploads on a mesh with the limiter on, against the same mesh with it off.

Two meshes run side by side (view, photo, like, comment, user; their own nats-server each), identical but for
SHUTTER_LIMITS_ENABLED; the limited one's rates are set far above the load, so every call is counted (two
counters a view, three an upload: per account and per address, and the daily bytes) and none is refused.
Rounds alternate off/on so that drift on a shared machine hits both alike. Each round is closed-loop ghz at a
fixed concurrency; measured: calls/s, p50, and CPU per call of the mesh's processes (NATS included, where the
counters live). The cost is on/off − 1 of the medians: ≤ 3% is the target.

`python -m bench.limits_cost [--quick]` runs this section alone; `make bench` runs it as one of its phases.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import build_protoset, tool
from bench.object_store import cpu_seconds
from bench.report import markdown_table
from bench.seed import small_jpeg
from services.runtime.limits import RULES, rate_env
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh, auth

SERVICES = ("user", "follow", "photo", "like", "comment", "view")
TARGET_COST = 0.03
# Far above any load here: everything is counted, nothing refused.
UNREACHABLE = "1000000000/300"
LIMITED_ENV = {
    "SHUTTER_LIMITS_ENABLED": "1",
    **{rate_env(rule.name, scope): UNREACHABLE for rule in RULES.values() for scope in ("account", "address")},
    "SHUTTER_LIMIT_UPLOAD_BYTES_PER_ACCOUNT": "1000000000000/86400",
}
QUIET = {"SHUTTER_LOG_LEVEL": "WARNING"}


@dataclass(frozen=True)
class Sizes:
    rounds: int
    seconds: float
    concurrency: int
    photos: int


QUICK = Sizes(rounds=2, seconds=1.5, concurrency=8, photos=5)
PROBE = Sizes(rounds=2, seconds=4.0, concurrency=16, photos=20)
FULL = Sizes(rounds=5, seconds=8.0, concurrency=16, photos=50)


@dataclass
class Round:
    calls_per_s: float
    p50_ms: float
    errors: int
    cpu_ms_per_call: float
    cpu_ms_by_process: dict[str, float]


def closed_loop(protoset: Path, address: str, call: str, seconds: float, concurrency: int, data: object,
                metadata: dict[str, str]) -> dict[str, object]:  # fmt: skip
    """ghz without a rate: `concurrency` workers each sending as soon as the last answer came."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data_file:
        json.dump(data, data_file)
    args = [
        tool("ghz"), "--insecure", "--protoset", str(protoset), "--call", call, "-z", f"{seconds}s",
        "--duration-stop", "wait", "-c", str(concurrency), "--connections", "2", "--cpus", "1", "-t", "10s",
        "--count-errors", "-O", "json", "-D", data_file.name, "-m", json.dumps(metadata), address,
    ]  # fmt: skip
    completed = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=False)
    Path(data_file.name).unlink(missing_ok=True)
    if not completed.stdout.strip():
        raise RuntimeError(f"ghz failed: {completed.stderr.strip()[:500]}")
    return json.loads(completed.stdout)


class Side:
    """One mesh (limits on or off), seeded with a user and some photos."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.user_id = 0
        self.token = ""
        self.photo_ids: list[int] = []

    async def seed(self, photos: int) -> None:
        users = user_pb2_grpc.UserServiceStub(self.mesh.channel("user"))
        created = await users.CreateUser(
            user_pb2.CreateUserRequest(username=f"bench_{int(time.time())}", display_name="B", password="x" * 12),
            timeout=30,
        )
        self.user_id, self.token = created.user.user_id, self.mesh.user_token(created.user.user_id)
        stub = photo_pb2_grpc.PhotoServiceStub(self.mesh.channel("photo"))
        for index in range(photos):
            meta = photo_pb2.UploadPhotoRequest(metadata=photo_pb2.PhotoMetadata(user_id=self.user_id, title="seed"))
            chunk = photo_pb2.UploadPhotoRequest(chunk=small_jpeg(index))
            reply = await stub.UploadPhoto(iter([meta, chunk]), metadata=auth(self.token), timeout=30)
            self.photo_ids.append(reply.photo.photo_id)

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds([process.pid]) for name, process in self.mesh.processes.items()}

    def run(self, protoset: Path, operation: str, sizes: Sizes) -> Round:
        if operation == "view":
            address, call = self.mesh.address("view"), "shutter.view.v1.ViewService/ViewPhoto"
            data: object = [{"photo_id": str(p), "user_id": str(self.user_id)} for p in self.photo_ids]
        else:
            address, call = self.mesh.address("photo"), "shutter.photo.v1.PhotoService/UploadPhoto"
            image = base64.b64encode(small_jpeg(7)).decode()
            data = [{"metadata": {"user_id": str(self.user_id), "title": "bench"}}, {"chunk": image}]
        before = self.cpu()
        report = closed_loop(
            protoset, address, call, sizes.seconds, sizes.concurrency, data, {"authorization": f"Bearer {self.token}"}
        )
        after = self.cpu()
        count = int(report.get("count", 0)) or 1
        by_process = {name: round((after[name] - before[name]) * 1000 / count, 3) for name in after}
        used = sum(after.values()) - sum(before.values())
        statuses = report.get("statusCodeDistribution") or {}
        assert isinstance(statuses, dict)
        percentiles = {int(p["percentage"]): p["latency"] / 1e6 for p in report.get("latencyDistribution") or []}  # type: ignore[union-attr]
        return Round(
            calls_per_s=round(float(report.get("rps", 0.0)), 1),  # type: ignore[arg-type]
            p50_ms=round(percentiles.get(50, 0.0), 3),
            errors=count - int(statuses.get("OK", 0)),
            cpu_ms_per_call=round(used * 1000 / count, 3),
            cpu_ms_by_process=by_process,
        )


def _median(rounds: list[Round], field: str) -> float:
    return statistics.median(getattr(r, field) for r in rounds)


async def measure(workdir: Path, sizes: Sizes, log: Callable[[str], None] = print) -> dict[str, object]:
    protoset = build_protoset(workdir)
    off = Mesh(workdir / "off", services=SERVICES, extra_env=QUIET)
    on = Mesh(workdir / "on", services=SERVICES, extra_env={**QUIET, **LIMITED_ENV})
    try:
        await asyncio.gather(off.start(), on.start())
        sides = {"off": Side(off), "on": Side(on)}
        for side in sides.values():
            await side.seed(sizes.photos)
        results: dict[str, object] = {"sizes": sizes.__dict__}
        for operation in ("view", "upload"):
            rounds: dict[str, list[Round]] = {"off": [], "on": []}
            for index in range(sizes.rounds):
                order = ("off", "on") if index % 2 == 0 else ("on", "off")
                for name in order:
                    rounds[name].append(await asyncio.to_thread(sides[name].run, protoset, operation, sizes))
            summary = {
                name: {
                    "calls_per_s": round(_median(r, "calls_per_s"), 1),
                    "p50_ms": round(_median(r, "p50_ms"), 2),
                    "cpu_ms_per_call": round(_median(r, "cpu_ms_per_call"), 3),
                    "errors": sum(x.errors for x in r),
                    "rounds": [x.__dict__ for x in r],
                }
                for name, r in rounds.items()
            }
            base, limited = summary["off"], summary["on"]
            summary["throughput_cost"] = round(1 - limited["calls_per_s"] / base["calls_per_s"], 4)  # type: ignore[operator]
            summary["cpu_cost"] = round(limited["cpu_ms_per_call"] / base["cpu_ms_per_call"] - 1, 4)  # type: ignore[operator]
            log(
                f"limiter cost on {operation}: throughput {summary['throughput_cost']:+.1%}, CPU/call "
                f"{summary['cpu_cost']:+.1%} (off {base['calls_per_s']}/s, on {limited['calls_per_s']}/s)"
            )
            results[operation] = summary
        return results
    finally:
        await asyncio.gather(off.close(), on.close())


def report_section(results: dict[str, object]) -> list[str]:
    """The bench report's section (markdown lines)."""
    rows = []
    for operation in ("view", "upload"):
        r = results.get(operation)
        if not isinstance(r, dict):
            continue
        for name in ("off", "on"):
            side = r[name]
            rows.append([f"{operation}, limits {name}", side["calls_per_s"], side["p50_ms"], side["cpu_ms_per_call"],
                         side["errors"]])  # fmt: skip
        # CPU per call decides: on a shared machine calls/s swings by tens of percent between rounds of one side.
        verdict = "met" if r["cpu_cost"] <= TARGET_COST else "missed"
        rows.append([f"{operation}: cost", f"{r['throughput_cost']:+.1%}", "", f"{r['cpu_cost']:+.1%}", verdict])
    return [
        "## Abuse limits: the limiter's cost",
        "",
        "Closed loop, the same mesh with SHUTTER_LIMITS_ENABLED off and on (rates far above the load: every call is "
        "counted on NATS, none refused); medians of alternating rounds. "
        f"Target: CPU per call ≤ {TARGET_COST:.0%} more.",
        "",
        markdown_table(["run", "calls/s", "p50 ms", "CPU ms/call (mesh + NATS)", "errors / verdict"], rows),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--probe", action="store_true", help="a short run, for looking into the figures")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as workdir:
        results = asyncio.run(measure(Path(workdir), QUICK if options.quick else PROBE if options.probe else FULL))
    print("\n".join(report_section(results)))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
