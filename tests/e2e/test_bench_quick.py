"""`make bench-quick` works: `make test` runs the bench's short mode only to check it works end to end.

Speed is not asserted here (that is the bench's own report); correctness is: every path answered
without errors, the freshness probes found every post, and the report, JSON and plot were written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mesh import ROOT


@pytest.mark.slow
def test_quick_bench_runs_and_reports(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a smoke run: minutes on a loaded 2-core machine
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    run = tmp_path / "latest"
    results = json.loads((run / "results.json").read_text())
    assert (run / "latency.png").stat().st_size > 10_000
    report = (run / "report.md").read_text()
    assert "## Ratios to this run's baselines" in report and "## Capacity model" in report

    curves = results["curves"]
    expected = {"echo grpc (baseline)", "runtime floor grpc (baseline)", "hello asgi (baseline)"}
    expected |= {"view grpc", "view http"}
    expected |= {f"mix {op}" for op in ("view", "upload", "like", "comment", "follow", "feed", "search")}
    assert expected <= set(curves)
    for name, steps in curves.items():
        assert steps and all(step["count"] > 0 for step in steps), name
        assert all(step["error_rate"] <= 0.01 for step in steps), (name, steps)

    freshness = results["freshness"]
    assert freshness["missed_feed"] == 0 and freshness["missed_search"] == 0
    assert freshness["post_to_feed_p99_ms"] is not None and freshness["post_to_search_p99_ms"] is not None
    assert set(results["rss_kib"]) >= {"nats", "gateway", "user", "photo", "view"}

    # Live updates: SSE watchers on the gateway during the mix, every like seen by its owner's stream.
    assert "## Live updates (Server-Sent Events)" in report
    live = results["live"]
    assert (live["watchers"], live["likes"], live["missed"]) == (20, 10, 0), live
    assert live["delivery_ms_p99"] is not None

    # The object-store section: every S3-path operation answered, ratios to SeaweedFS's own PUT/GET.
    assert "## Object store (S3 API on SeaweedFS)" in report
    store = results["object_store"]
    assert set(store["rates"]) == {
        "SeaweedFS PUT",
        "SeaweedFS GET",
        "upload (gRPC)",
        "download streamed (gateway)",
        "download presigned (307 + store)",
    }
    assert all(rate["errors"] == 0 and rate["ops"] > 0 for rate in store["rates"].values()), store["rates"]
    assert all(value and value > 0 for value in store["ratios"].values()), store["ratios"]

    # What telemetry costs: every mode measured, as a ratio to "off" in the same run.
    telemetry = results["telemetry"]
    assert set(telemetry["ratio_to_off"]) == {"off", "metrics", "metrics + traces 1%", "metrics + traces 100%"}
    assert all(views > 0 for views in telemetry["views_per_s"].values()), telemetry["views_per_s"]
    assert telemetry["ratio_to_off"]["off"] == 1.0
    assert "## What telemetry costs" in report and "## From the mesh's own metrics" in report
    # Read from the mesh's own metrics: every process used CPU, and the probes' posts show in the lags.
    readings = results["from_metrics"]
    assert all(seconds > 0 for seconds in readings["cpu_seconds"].values()), readings["cpu_seconds"]
    assert readings["lags"]["post_to_feed_events"] >= freshness["probes"]
    assert readings["lags"]["post_to_feed_p99_ms"] is not None and readings["lags"]["post_to_search_p99_ms"] is not None

    # The abuse limiter's cost: both sides of views and uploads answered without errors, the costs reported.
    assert "## Abuse limits: the limiter's cost" in report
    limits = results["limits"]
    for operation in ("view", "upload"):
        assert limits[operation]["off"]["errors"] == 0 and limits[operation]["on"]["errors"] == 0, limits
        assert limits[operation]["off"]["calls_per_s"] > 0 and limits[operation]["on"]["calls_per_s"] > 0
        assert isinstance(limits[operation]["cpu_cost"], float)
