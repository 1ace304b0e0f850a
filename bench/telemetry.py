"""What telemetry costs, and what the mesh's own metrics say.

    .venv/bin/python -m bench.telemetry [--seconds 8] [--rounds 2]

Cost: view throughput (ViewPhoto through view → photo, like, comment; ghz closed loop at a fixed
concurrency) on a small mesh per mode — telemetry off, metrics on, metrics + traces sampled at 1% and
at 100% (spans over OTLP into a real Jaeger) — as ratios to "off" measured in the same run. The four
meshes run side by side (idle but for the one under load) and short runs rotate through them, round
after round, so a noisy neighbour's load lands on every mode alike; each mode's median is kept.
Per-process CPU per view comes from each process's `process_cpu_seconds_total` (from /proc when
metrics are off: there is no endpoint then).

Readings: `MeshReadings` scrapes every process of a mesh before and after a phase; the bench report
takes per-process CPU and the pipeline lags (post → feed written, post → searchable) from them, as
Prometheus would (histogram_quantile over the bucket deltas), instead of polling feeds and search.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import build_protoset, tool
from bench.view_probe import SERVICES, VIEWER, seed
from tests.support.jaeger import Jaeger
from tests.support.mesh import Mesh
from tests.support.metrics import Scrape, scrape

# Mode → extra settings for every process of the mesh.
MODES: dict[str, dict[str, str]] = {
    "off": {"SHUTTER_METRICS": "0"},
    "metrics": {},
    "metrics + traces 1%": {"SHUTTER_TRACING": "1", "SHUTTER_TRACE_SAMPLE_RATIO": "0.01"},
    "metrics + traces 100%": {"SHUTTER_TRACING": "1", "SHUTTER_TRACE_SAMPLE_RATIO": "1"},
}
TARGET_COST = 0.05  # metrics + 1% tracing may cost at most 5% of view throughput
CONCURRENCY = 16


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile over cumulative (upper bound, count) buckets, +Inf last."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-9)
        lower_bound, lower_count = bound, count
    return None


def bucket_deltas(before: Scrape | None, after: Scrape, metric: str) -> list[tuple[float, float]]:
    """Cumulative buckets of `metric` (a histogram's name) gained between two scrapes."""

    def buckets(found: Scrape | None) -> dict[float, float]:
        totals: dict[float, float] = {}
        for name, labels, value in found.samples if found else []:
            if name == f"{metric}_bucket":
                bound = float(labels["le"])
                totals[bound] = totals.get(bound, 0.0) + value
        return totals

    start, end = buckets(before), buckets(after)
    return sorted((bound, count - start.get(bound, 0.0)) for bound, count in end.items())


@dataclass
class MeshReadings:
    """Scrapes of every process of a mesh (service names and "gateway") at one moment."""

    scrapes: dict[str, Scrape] = field(default_factory=dict)

    @classmethod
    async def take(cls, mesh: Mesh, names: tuple[str, ...]) -> MeshReadings:
        found = await asyncio.gather(*(scrape(mesh.metrics_url(name)) for name in names))
        return cls(dict(zip(names, found, strict=True)))

    def cpu_seconds(self) -> dict[str, float]:
        return {name: found.value("process_cpu_seconds_total") for name, found in self.scrapes.items()}


def cpu_used(before: MeshReadings, after: MeshReadings) -> dict[str, float]:
    """CPU seconds each process used between two readings."""
    start = before.cpu_seconds()
    return {name: round(seconds - start.get(name, 0.0), 3) for name, seconds in after.cpu_seconds().items()}


def pipeline_lags(before: MeshReadings, after: MeshReadings) -> dict[str, object]:
    """Post → feed written and post → searchable between two readings, as the histograms tell them."""
    lags: dict[str, object] = {}
    for key, process, metric in (
        ("post_to_feed", "feed", "shutter_feed_fanout_lag_seconds"),
        ("post_to_search", "search", "shutter_search_index_lag_seconds"),
    ):
        if process not in after.scrapes:
            continue
        buckets = bucket_deltas(before.scrapes.get(process), after.scrapes[process], metric)
        for q in (0.5, 0.99):
            value = histogram_quantile(q, buckets)
            lags[f"{key}_p{int(q * 100)}_ms"] = None if value is None else round(value * 1000, 1)
        lags[f"{key}_events"] = int(buckets[-1][1]) if buckets else 0
    return lags


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (used only when it serves no metrics)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closed_loop_ghz(protoset: Path, address: str, data: dict[str, object], token: str, seconds: float) -> dict:
    """ghz with CONCURRENCY workers calling back to back: the throughput the mesh sustains."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data_file:
        json.dump(data, data_file)
    args = [
        tool("ghz"), "--insecure", "--protoset", str(protoset),
        "--call", "shutter.view.v1.ViewService/ViewPhoto", "-z", f"{seconds}s", "--duration-stop", "wait",
        "-c", str(CONCURRENCY), "--connections", "2", "--cpus", "1", "-t", "5s", "--count-errors", "-O", "json",
        "-D", data_file.name, "-m", json.dumps({"authorization": f"Bearer {token}"}), address,
    ]  # fmt: skip
    try:
        completed = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=False)
    finally:
        Path(data_file.name).unlink(missing_ok=True)
    if not completed.stdout.strip():
        raise RuntimeError(f"ghz failed: {completed.stderr.strip()[:500]}")
    report = json.loads(completed.stdout)
    statuses = report.get("statusCodeDistribution") or {}
    return {
        "rps": float(report.get("rps", 0.0)),
        "count": int(report.get("count", 0)),
        "ok": int(statuses.get("OK", 0)),
    }


@dataclass
class ModeMesh:
    """A running mesh in one telemetry mode, seeded with the photo every view asks for."""

    mode: str
    mesh: Mesh
    data: dict[str, object]
    token: str


async def start_mode(mode: str, workdir: Path, jaeger: Jaeger, social: int) -> ModeMesh:
    """A mesh in `mode`, with a photo that has `social` likes and comments."""
    env = {**MODES[mode], "SHUTTER_LOG_LEVEL": "WARNING"}
    if env.get("SHUTTER_TRACING") == "1":
        env["SHUTTER_OTLP_ENDPOINT"] = jaeger.otlp_endpoint
    mesh = Mesh(workdir, services=SERVICES, extra_env=env)
    try:
        await mesh.start()
        photo_id = await seed(mesh, photos=1, likers=social, comments=social)
    except BaseException:
        await mesh.close()
        raise
    return ModeMesh(mode, mesh, {"photo_id": str(photo_id), "user_id": str(VIEWER)}, mesh.user_token(VIEWER))


async def measure(running: ModeMesh, protoset: Path, seconds: float) -> dict[str, object]:
    """Views/s of one closed-loop run against `running`, and the CPU per view of each of its processes."""
    mesh, address = running.mesh, running.mesh.address("view")
    metrics_on = running.mode != "off"
    pids = {name: mesh.processes[name].pid for name in SERVICES}
    before = await MeshReadings.take(mesh, SERVICES) if metrics_on else None
    cpu_start = {name: _proc_cpu_seconds(pid) for name, pid in pids.items()}
    result = await asyncio.to_thread(closed_loop_ghz, protoset, address, running.data, running.token, seconds)
    if before is not None:
        cpu = cpu_used(before, await MeshReadings.take(mesh, SERVICES))
    else:
        cpu = {name: round(_proc_cpu_seconds(pid) - cpu_start[name], 3) for name, pid in pids.items()}
    views = max(result["ok"], 1)
    return {
        "views_per_s": round(result["rps"], 1),
        "errors": result["count"] - result["ok"],
        "cpu_ms_per_view": {name: round(used * 1000 / views, 3) for name, used in cpu.items()},
        "cpu_source": "process_cpu_seconds_total" if metrics_on else "/proc (metrics off)",
    }


async def telemetry_cost(out: Path, seconds: float, rounds: int, log=print, social: int = 20) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """One mesh per mode, all running; `rounds` rounds of one short run each, the order rotating every
    round, so a neighbour's load lands on every mode alike. The median views/s per mode, as a ratio
    to "off"."""
    protoset = build_protoset(out)
    jaeger = Jaeger(out / "jaeger")
    await asyncio.to_thread(jaeger.start)
    runs: dict[str, list[dict[str, object]]] = {mode: [] for mode in MODES}
    meshes: list[ModeMesh] = []
    try:
        for index, mode in enumerate(MODES):
            meshes.append(await start_mode(mode, out / f"telemetry-{index}", jaeger, social))
        for running in meshes:  # warm-up: connections, caches, the first prepared statements
            await measure(running, protoset, min(2.0, seconds / 2))
        for round_ in range(rounds):
            shift = round_ % len(meshes)
            for running in meshes[shift:] + meshes[:shift]:
                measured = await measure(running, protoset, seconds)
                runs[running.mode].append(measured)
                log(f"telemetry {running.mode:<22} round {round_ + 1}: {measured['views_per_s']:>7} views/s")
    finally:
        for running in meshes:
            await running.mesh.close()
        jaeger.stop()
    medians = {mode: round(statistics.median(float(r["views_per_s"]) for r in runs[mode]), 1) for mode in runs}
    off = medians["off"] or None
    ratios = {mode: round(value / off, 3) if off else None for mode, value in medians.items()}
    cost = None if ratios["metrics + traces 1%"] is None else round(1 - ratios["metrics + traces 1%"], 3)
    return {
        "seconds": seconds,
        "rounds": rounds,
        "concurrency": CONCURRENCY,
        "views_per_s": medians,
        "ratio_to_off": ratios,
        "metrics_and_1pct_traces_cost": cost,
        "target_cost": TARGET_COST,
        "runs": runs,
    }


def markdown(result: dict[str, object]) -> list[str]:
    """The report's section: one row per mode, then CPU per view by process."""
    from bench.report import markdown_table

    views = result["views_per_s"]
    ratios = result["ratio_to_off"]
    cost = result["metrics_and_1pct_traces_cost"]
    verdict = "n/a" if cost is None else ("met" if cost <= TARGET_COST else "missed")
    rows = [[mode, views[mode], ratios[mode]] for mode in MODES]  # type: ignore[index]
    lines = [
        f"ViewPhoto, closed loop at concurrency {result['concurrency']}, {result['seconds']} s per run, "
        f"median of {result['rounds']} rounds rotating through one mesh per mode.",
        "",
        markdown_table(["telemetry", "views/s", "ratio to off"], rows),
        "",
        f"Metrics + 1% tracing cost: {'n/a' if cost is None else f'{cost:.1%}'} "
        f"(target ≤ {TARGET_COST:.0%}): {verdict}.",
        "",
    ]
    runs = result["runs"]
    processes = sorted(runs["off"][0]["cpu_ms_per_view"]) if runs["off"] else []  # type: ignore[index]
    cpu_rows = [
        [mode, *(round(statistics.median(r["cpu_ms_per_view"][p] for r in runs[mode]), 3) for p in processes)]  # type: ignore[index]
        for mode in MODES
    ]
    lines += ["CPU ms per view, by process:", "", markdown_table(["telemetry", *processes], cpu_rows)]
    return lines


def report_lines(results: dict[str, object]) -> list[str]:
    """The bench report's sections from this module: telemetry's cost, and the mesh's own readings."""
    lines: list[str] = []
    if results.get("telemetry"):
        lines += ["", "## What telemetry costs", "", *markdown(results["telemetry"])]  # type: ignore[arg-type]
    readings = results.get("from_metrics")
    if readings:
        from bench.report import markdown_table

        lags = readings["lags"]  # type: ignore[index]
        cpu = readings["cpu_seconds"]  # type: ignore[index]
        lines += [
            "",
            "## From the mesh's own metrics",
            "",
            "Pipeline lags over the freshness phase, from the lag histograms (bucket-interpolated, as Prometheus's "
            "histogram_quantile): what an operator's dashboard shows, without polling feeds or search.",
            "",
            markdown_table(
                ["lag", "p50 ms", "p99 ms", "events"],
                [
                    [name, lags.get(f"{key}_p50_ms"), lags.get(f"{key}_p99_ms"), lags.get(f"{key}_events")]
                    for name, key in (("post → feed written", "post_to_feed"), ("post → searchable", "post_to_search"))
                ],
            ),
            "",
            "CPU seconds per process over the whole mesh run (process_cpu_seconds_total):",
            "",
            markdown_table(["process", "CPU s"], [[name, seconds] for name, seconds in sorted(cpu.items())]),
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as workdir:
        out = options.out or Path(workdir)
        out.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(telemetry_cost(out, options.seconds, options.rounds))
        print("\n".join(markdown(result)))
        print(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    main()
