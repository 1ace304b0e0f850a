"""Open-loop load through established generators: ghz (gRPC) and vegeta (HTTP).

Both send at a constant arrival rate regardless of how fast answers come back (ghz with `--rps`
and `--async`, vegeta by design), so a slow server shows up as latency, not as a lower offered
rate (no coordinated omission). This module only runs them and normalises their JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    """One operation at one offered rate."""

    operation: str
    offered_rps: float
    achieved_rps: float
    count: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 1.0

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "error_rate": round(self.error_rate, 4)}


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise SystemExit(f"{name} not found on PATH: `make bench` installs it with go install into .tools/bin")
    return path


def build_protoset(out: Path) -> Path:
    """A descriptor set of every contract, so ghz needs no server reflection."""
    from grpc_tools import protoc

    from tools.protogen import PROTO_ROOT, _include_dirs

    out.mkdir(parents=True, exist_ok=True)
    path = out / "shutter.protoset"
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    args = ["protoc", *(f"-I{d}" for d in _include_dirs()), f"--descriptor_set_out={path}", "--include_imports"]
    if protoc.main([*args, *sources]) != 0:
        raise RuntimeError("protoc could not build the protoset")
    return path


def run_ghz(
    protoset: Path,
    operation: str,
    address: str,
    call: str,
    rps: float,
    duration_s: float,
    data: object = None,
    metadata: dict[str, str] | None = None,
    concurrency: int = 50,
    timeout_s: float = 5.0,
) -> Measurement:
    args = [
        tool("ghz"),
        "--insecure",
        "--async",
        "--protoset",
        str(protoset),
        "--call",
        call,
        "--rps",
        str(max(int(rps), 1)),
        "-z",
        f"{duration_s}s",
        # Let calls in flight at the end finish; the default closes the connection under them and
        # counts each as UNAVAILABLE, an artefact of the load generator rather than the server.
        "--duration-stop",
        "wait",
        "-c",
        str(concurrency),
        "--connections",
        "2",
        "--cpus",
        "1",
        "-t",
        f"{timeout_s}s",
        "--count-errors",
        "-O",
        "json",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data_file:
        json.dump(data if data is not None else {}, data_file)
    args += ["-D", data_file.name]
    if metadata:
        args += ["-m", json.dumps(metadata)]
    args.append(address)
    completed = subprocess.run(args, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    Path(data_file.name).unlink(missing_ok=True)
    if not completed.stdout.strip():
        raise RuntimeError(f"ghz failed for {operation}: {completed.stderr.strip()[:500]}")
    report = json.loads(completed.stdout)
    percentiles = {int(p["percentage"]): p["latency"] / 1e6 for p in report.get("latencyDistribution") or []}
    statuses = report.get("statusCodeDistribution") or {}
    count = int(report.get("count", 0))
    errors = count - int(statuses.get("OK", 0))
    return Measurement(
        operation=operation,
        offered_rps=rps,
        achieved_rps=round(float(report.get("rps", 0.0)), 1),
        count=count,
        errors=errors,
        p50_ms=round(percentiles.get(50, 0.0), 3),
        p95_ms=round(percentiles.get(95, 0.0), 3),
        p99_ms=round(percentiles.get(99, 0.0), 3),
        error_kinds={k: v for k, v in statuses.items() if k != "OK"},
    )


def run_vegeta(
    operation: str,
    targets: list[dict[str, object]],
    rps: float,
    duration_s: float,
    timeout_s: float = 5.0,
) -> Measurement:
    """`targets` are vegeta JSON targets ({"method", "url", "header", "body"(base64)})."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as target_file:
        for target in targets:
            target_file.write(json.dumps(target) + "\n")
    attack = subprocess.Popen(
        [
            tool("vegeta"),
            "attack",
            "-format",
            "json",
            "-targets",
            target_file.name,
            "-rate",
            f"{max(int(rps), 1)}/s",
            "-duration",
            f"{duration_s}s",
            "-timeout",
            f"{timeout_s}s",
            "-max-workers",
            "512",
            # Read each answer but keep none of it: the report never looks at bodies, and encoding each into
            # the results stream doubled vegeta's CPU per request (it shares the machine with the mesh).
            "-max-body",
            "0",
        ],
        stdout=subprocess.PIPE,
    )
    report_run = subprocess.run(
        [tool("vegeta"), "report", "-type", "json"],
        stdin=attack.stdout,
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    attack.wait(timeout=30)
    Path(target_file.name).unlink(missing_ok=True)
    report = json.loads(report_run.stdout)
    latencies = report["latencies"]
    count = int(report["requests"])
    codes = {str(k): int(v) for k, v in (report.get("status_codes") or {}).items()}
    ok = sum(v for k, v in codes.items() if k.startswith("2") or k == "304")
    return Measurement(
        operation=operation,
        offered_rps=rps,
        achieved_rps=round(float(report.get("throughput", 0.0)), 1),
        count=count,
        errors=count - ok,
        p50_ms=round(latencies["50th"] / 1e6, 3),
        p95_ms=round(latencies["95th"] / 1e6, 3),
        p99_ms=round(latencies["99th"] / 1e6, 3),
        error_kinds={k: v for k, v in codes.items() if not (k.startswith("2") or k == "304")},
    )
