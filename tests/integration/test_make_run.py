"""`make run` (`python -m services.runtime.mesh`) with tracing asked for: every process's metrics URL
printed and answering, a local Jaeger started with its UI printed, and a request's spans in it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.runtime.topology import METRICS_PORTS, SERVICE_NAMES
from tests.support.jaeger import JAEGER_BINARY
from tests.support.mesh import AUTH_SECRET, ROOT, free_port

pytestmark = pytest.mark.slow

LINE = re.compile(r"\|\s(?P<text>.*)$")


def _env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SHUTTER_DATA_DIR": str(workdir / "data"),
        "SHUTTER_AUTH_SECRET": AUTH_SECRET,
        "SHUTTER_NATS_PORT": str(free_port()),
        "SHUTTER_GATEWAY_PORT": str(free_port()),
        **{f"SHUTTER_{name.upper()}_PORT": str(free_port()) for name in SERVICE_NAMES},
        **{f"SHUTTER_{name.upper()}_METRICS_PORT": str(free_port()) for name in METRICS_PORTS},
        "SHUTTER_TRACING": "1",
        "SHUTTER_JAEGER_OTLP_PORT": str(free_port()),
        "SHUTTER_JAEGER_UI_PORT": str(free_port()),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def test_make_run_prints_metrics_urls_and_starts_jaeger_when_tracing_is_asked_for(tmp_path: Path) -> None:
    assert os.access(JAEGER_BINARY, os.X_OK), "`make tools` builds .tools/bin/jaeger"
    env = _env(tmp_path)
    env.pop("SHUTTER_OTLP_ENDPOINT", None)
    printed: dict[str, str] = {}
    with (tmp_path / "run.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.runtime.mesh", "--timeout", "120"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            raw = process.stdout.readline()
            if not raw:
                break
            match = LINE.search(raw.decode(errors="replace").rstrip())
            if match is None or not match["text"].strip():
                continue
            text = match["text"].strip()
            if text == "ready":
                break
            name, _, rest = text.partition(" ")
            printed[name] = rest.strip()
        assert "gateway" in printed and "jaeger" in printed, printed

        for name in (*SERVICE_NAMES, "gateway"):
            url = f"http://127.0.0.1:{env[f'SHUTTER_{name.upper()}_METRICS_PORT']}/metrics"
            assert f"metrics {url}" in printed[name], (name, printed[name])
            assert "process_cpu_seconds_total" in httpx.get(url, timeout=5).text
        ui = f"http://127.0.0.1:{env['SHUTTER_JAEGER_UI_PORT']}"
        assert printed["jaeger"].startswith(ui)

        # Requests through the gateway reach the local Jaeger as spans of the gateway and the services.
        gateway = f"http://127.0.0.1:{env['SHUTTER_GATEWAY_PORT']}"
        signed_up = httpx.post(
            f"{gateway}/v1/users",
            json={"username": f"runner{free_port()}", "password": "a long enough password"},
            timeout=10,
        )
        assert signed_up.status_code == 200, signed_up.text
        assert httpx.get(f"{gateway}/v1/views/photos/12345", timeout=10).status_code == 401
        wanted = {"gateway", "user", "view"}
        services: set[str] = set()
        until = time.monotonic() + 30
        while time.monotonic() < until and not wanted <= services:
            services = set(httpx.get(f"{ui}/api/services", timeout=5).json()["data"] or [])
            time.sleep(0.2)
        assert wanted <= services, services
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
