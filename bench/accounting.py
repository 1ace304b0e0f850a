"""What a step cost each process: CPU seconds (from /proc) and gRPC calls served (from the access log).

CPU is utime + stime of the process and every descendant still running (uvicorn workers under the
gateway's supervisor), read before and after a step. Calls served come from each service's access
log: the bench runs the mesh with SHUTTER_RPC_LOG_EVERY=N, every line stands for `sample_of` calls
of its method, so counts are exact to within N per method. The load generators (ghz, vegeta) are
children of the bench process; their CPU is read from its children's rusage.
"""

from __future__ import annotations

import json
import os
import resource
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOAD_GENERATORS = "load generator"


def _stat_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds; 0 once it has gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # The command name may hold spaces and parentheses: fields are counted after its closing ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of all its live descendants."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += _stat_seconds(current)
        pending += _children(current)
    return total


def load_generator_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class LogTail:
    """Reads what a service appended to its log since the last read; counts the calls it served."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = path.stat().st_size if path.exists() else 0

    def calls(self) -> Counter[str]:
        """Calls served since the last read, by method (short name), from the sampled access-log lines."""
        counted: Counter[str] = Counter()
        if not self._path.exists():
            return counted
        with self._path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            if b'"msg": "rpc"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            counted[entry["method"].rsplit("/", 1)[-1]] += int(entry.get("sample_of", 1))
        return counted


@dataclass
class StepCost:
    """One step's cost: CPU seconds per process, calls served per process and method, wall time."""

    wall_seconds: float
    cpu_seconds: dict[str, float]
    calls: dict[str, dict[str, int]] = field(default_factory=dict)

    def per_thousand(self, requests: int) -> dict[str, float]:
        """CPU seconds per 1,000 requests of the step, per process."""
        if not requests:
            return {}
        return {name: round(cpu * 1000 / requests, 3) for name, cpu in self.cpu_seconds.items()}

    def utilisation(self) -> dict[str, float]:
        """Cores each process kept busy during the step (1.0 = one core flat out)."""
        if self.wall_seconds <= 0:
            return {}
        return {name: round(cpu / self.wall_seconds, 2) for name, cpu in self.cpu_seconds.items()}

    def operations_per_request(self, requests: int, entry: str, entry_from_mesh: bool) -> float | None:
        """gRPC operations per request: every call served counts once, and once more for its client side
        when a mesh process made it — every downstream call, and the call into `entry` too when the
        gateway (not the load generator) made it."""
        if not requests or not self.calls:
            return None
        total = 0
        for name, methods in self.calls.items():
            served = sum(methods.values())
            total += served if name == entry and not entry_from_mesh else 2 * served
        return round(total / requests, 2)

    def to_dict(self) -> dict[str, object]:
        return {
            "wall_seconds": round(self.wall_seconds, 2),
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu_seconds.items()},
            "calls": self.calls,
        }


class Accountant:
    """Snapshots per-process CPU and access logs around each step of a mesh run."""

    def __init__(self, pids: dict[str, int], logs: dict[str, Path]) -> None:
        self._pids = pids
        self._tails = {name: LogTail(path) for name, path in logs.items()}

    def _cpu(self) -> dict[str, float]:
        readings = {name: tree_cpu_seconds(pid) for name, pid in self._pids.items()}
        readings[LOAD_GENERATORS] = load_generator_cpu_seconds()
        return readings

    def begin(self) -> tuple[float, dict[str, float]]:
        for tail in self._tails.values():
            tail.calls()  # skip whatever came before the step
        return os.times().elapsed, self._cpu()

    def end(self, started: tuple[float, dict[str, float]]) -> StepCost:
        began, before = started
        after = self._cpu()
        calls = {name: dict(tail.calls()) for name, tail in self._tails.items()}
        return StepCost(
            wall_seconds=os.times().elapsed - began,
            cpu_seconds={name: max(after[name] - before.get(name, 0.0), 0.0) for name in after},
            calls={name: counts for name, counts in calls.items() if counts},
        )
