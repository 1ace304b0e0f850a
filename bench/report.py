"""Bench output: results.json, report.md and latency.png under one output directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.loadgen import Measurement


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
