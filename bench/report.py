"""Bench output: results.json, report.md and latency.png under one output directory."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.accounting import LOAD_GENERATORS
from bench.loadgen import Measurement
from bench.stepping import Ceiling


def write_json(out: Path, results: dict[str, Any]) -> Path:
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2, default=_jsonable))
    return path


def _jsonable(value: object) -> object:
    if isinstance(value, Measurement):
        return value.to_dict()
    raise TypeError(type(value))


def plot_latency(out: Path, curves: dict[str, list[Measurement]]) -> Path:
    """One panel per operation: p50/p95/p99 against offered rate, log-scaled latency."""
    names = [name for name, steps in curves.items() if steps]
    columns = min(3, max(1, len(names)))
    rows = (len(names) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for index, name in enumerate(names):
        axis = axes[index // columns][index % columns]
        steps = curves[name]
        offered = [m.offered_rps for m in steps]
        for label, values in (
            ("p50", [m.p50_ms for m in steps]),
            ("p95", [m.p95_ms for m in steps]),
            ("p99", [m.p99_ms for m in steps]),
        ):
            axis.plot(offered, values, marker="o", label=label)
        errors = [m.offered_rps for m in steps if m.error_rate > 0.01]
        if errors:
            axis.scatter(
                errors, [max(m.p99_ms for m in steps)] * len(errors), marker="x", color="red", label="errors>1%"
            )
        axis.set_title(name)
        axis.set_xlabel("offered rate (req/s)")
        axis.set_ylabel("latency (ms)")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle("Shutter: latency percentiles vs offered load (open loop)")
    figure.tight_layout()
    path = out / "latency.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def measurement_rows(curves: dict[str, list[Measurement]], best: dict[str, Measurement | None]) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, steps in curves.items():
        for m in steps:
            marker = " ✓" if best.get(name) is m else ""
            rows.append(
                [name + marker, m.offered_rps, m.achieved_rps, m.p50_ms, m.p95_ms, m.p99_ms, f"{m.error_rate:.2%}"]
            )
    return rows


MEASUREMENT_HEADERS = ["operation", "offered/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "errors"]


# -- ceilings, ratios and costs ------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """Curve `numerator` over curve `denominator`, with what the issue asks of it (None: it asks nothing, the
    ratio explains another)."""

    name: str
    numerator: str
    denominator: str
    target: float | None


@dataclass
class PathCost:
    """What one request of a path cost at its highest held step."""

    requests: int
    ops_per_request: float | None
    cpu_per_thousand: dict[str, float]
    utilisation: dict[str, float]
    calls: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio_value(ceilings: dict[str, Ceiling[Measurement]], ratio: Ratio) -> dict[str, float | None]:
    """The point ratio (achieved rates at the held steps) and the range the brackets allow."""
    top, bottom = ceilings.get(ratio.numerator), ceilings.get(ratio.denominator)
    if top is None or bottom is None or top.held is None or bottom.held is None:
        return {"measured": None, "low": None, "high": None}
    point = top.held.result.achieved_rps / bottom.held.result.achieved_rps if bottom.held.result.achieved_rps else None
    low = top.held.rate / bottom.broke.rate if bottom.broke else None
    high = top.broke.rate / bottom.held.rate if top.broke else None
    return {
        "measured": round(point, 3) if point else None,
        "low": round(low, 3) if low else None,
        "high": round(high, 3) if high else None,
    }


def ratio_rows(ceilings: dict[str, Ceiling[Measurement]], ratios: list[Ratio]) -> list[list[object]]:
    rows: list[list[object]] = []
    for ratio in ratios:
        value = ratio_value(ceilings, ratio)
        measured = value["measured"]
        low, high = value["low"], value["high"]
        span = f"{low if low is not None else '?'} – {high if high is not None else '≥'}"
        if measured is None:
            verdict = "n/a"
        elif ratio.target is None:
            verdict = "(explains)"
        elif measured >= ratio.target:
            verdict = "met"
        else:
            verdict = f"missed by {ratio.target / measured:.2f}×"
        target = "—" if ratio.target is None else f"≥ {ratio.target}"
        rows.append([ratio.name, measured if measured is not None else "n/a", span, target, verdict])
    return rows


RATIO_HEADERS = ["ratio", "measured (held ÷ held)", "bracket (held ÷ broke – broke ÷ held)", "target", "verdict"]


def bracket_rows(ceilings: dict[str, Ceiling[Any]]) -> list[list[object]]:
    """Per curve: the highest offered rate that held, the lowest that broke above it, and their spread."""
    rows: list[list[object]] = []
    for name, ceiling in ceilings.items():
        held, broke = ceiling.held, ceiling.broke
        rows.append(
            [
                name,
                held.rate if held else "none",
                broke.rate if broke else "never broke",
                f"{ceiling.spread:.2f}" if ceiling.spread else "n/a",
                len(ceiling.trials),
            ]
        )
    return rows


BRACKET_HEADERS = ["curve", "held at (offered/s)", "broke at (offered/s)", "broke ÷ held", "steps run"]


def cost_tables(paths: dict[str, PathCost]) -> str:
    """gRPC operations per request and CPU seconds per 1,000 requests for each process, per path."""
    processes = sorted({name for cost in paths.values() for name in cost.cpu_per_thousand})
    headers = ["path", "requests", "gRPC ops / request", *(f"{p} CPU s/1k" for p in processes), "mesh CPU s/1k"]
    rows: list[list[object]] = []
    for path, cost in paths.items():
        mesh = sum(v for k, v in cost.cpu_per_thousand.items() if k != LOAD_GENERATORS)
        rows.append(
            [
                path,
                cost.requests,
                cost.ops_per_request if cost.ops_per_request is not None else "n/a",
                *(cost.cpu_per_thousand.get(p, "") for p in processes),
                round(mesh, 3),
            ]
        )
    calls = [
        [path, process, ", ".join(f"{method} {count / cost.requests:.3f}" for method, count in sorted(methods.items()))]
        for path, cost in paths.items()
        for process, methods in sorted(cost.calls.items())
    ]
    return "\n\n".join(
        [
            markdown_table(headers, rows),
            "Calls served per request, by process and method (from the sampled access log):",
            markdown_table(["path", "process", "calls per request"], calls),
        ]
    )


def utilisation_table(steps: dict[str, dict[str, float]]) -> str:
    """Cores each process kept busy, per named step (which process saturates first)."""
    processes = sorted({name for step in steps.values() for name in step})
    rows = [
        [label, *(step.get(p, "") for p in processes), round(sum(step.values()), 2)] for label, step in steps.items()
    ]
    return markdown_table(["step", *processes, "all"], rows)
