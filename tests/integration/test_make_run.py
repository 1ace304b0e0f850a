"""`make run`'s supervisor for real: the whole mesh on free ports in a temporary directory, `ready`
printed as documented, and Ctrl-C (SIGINT) stopping it in dependency order (gateway, services, NATS)
with exit code 0 and not a single error logged. With tracing asked for: every process's metrics URL
printed and answering, a local Jaeger started with its UI printed, and requests' spans in it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from services.runtime.topology import METRICS_PORTS, SERVICE_NAMES
from tests.support.jaeger import JAEGER_BINARY
from tests.support.mesh import AUTH_SECRET, ROOT, free_port

pytestmark = pytest.mark.slow

READY = re.compile(r"^\d\d:\d\d:\d\d mesh +\| ready$")
LINE = re.compile(r"^\d\d:\d\d:\d\d (\S+) +\| (.*)$")


def _json(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def test_the_mesh_starts_prints_ready_and_stops_cleanly_in_order_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SHUTTER_DATA_DIR": str(tmp_path / "data"),
        "SHUTTER_NATS_PORT": str(free_port()),
        "SHUTTER_GATEWAY_PORT": str(free_port()),
        **{f"SHUTTER_{name.upper()}_PORT": str(free_port()) for name in SERVICE_NAMES},
        **{f"SHUTTER_{name.upper()}_METRICS_PORT": str(free_port()) for name in METRICS_PORTS},
    }
    env.pop("SHUTTER_NATS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.runtime.mesh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if READY.match(lines[-1]):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(120), "\n".join(lines[-60:])
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    reader.join(timeout=10)
    output = "\n".join(lines)
    assert code == 0, output[-5000:]

    parsed = [(m.group(1), m.group(2)) for m in map(LINE.match, lines) if m]
    assert len(parsed) == len(lines), [line for line in lines if not LINE.match(line)]
    errors = [text for _, text in parsed if '"level": "error"' in text or '"level": "critical"' in text]
    assert errors == [], errors
    assert "Traceback" not in output
    for name in SERVICE_NAMES:
        assert any(who == "mesh" and text.startswith(f"{name:<8} grpc://") for who, text in parsed), name

    def first(predicate) -> int:  # type: ignore[no-untyped-def]
        return next(i for i, (who, text) in enumerate(parsed) if predicate(who, text))

    def last(predicate) -> int:  # type: ignore[no-untyped-def]
        return max(i for i, (who, text) in enumerate(parsed) if predicate(who, text))

    def says(who: str, text: str, message: str) -> bool:
        record = _json(text)
        return record is not None and record.get("msg") == message

    gateway_gone = last(lambda who, _: who == "gateway")
    services_stopping = first(lambda who, text: who in SERVICE_NAMES and says(who, text, "shutting down"))
    services_stopped = last(lambda who, text: who in SERVICE_NAMES and says(who, text, "stopped"))
    nats_stopping = first(lambda who, text: who == "nats" and "Shutdown" in text)
    assert gateway_gone < services_stopping < services_stopped < nats_stopping
    assert all(any(who == name and says(who, text, "stopped") for who, text in parsed) for name in SERVICE_NAMES)


def test_make_run_prints_metrics_urls_and_starts_jaeger_when_tracing_is_asked_for(tmp_path: Path) -> None:
    assert os.access(JAEGER_BINARY, os.X_OK), "`make tools` builds .tools/bin/jaeger"
    env = {
        **os.environ,
        "SHUTTER_DATA_DIR": str(tmp_path / "data"),
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
    for name in ("SHUTTER_NATS_URL", "SHUTTER_OTLP_ENDPOINT"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.runtime.mesh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:  # all along: a full pipe would stall the supervisor and every process behind it
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if READY.match(lines[-1]):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(120), "\n".join(lines[-60:])
        printed = {}
        for who, text in (m.groups() for m in map(LINE.match, lines) if m):
            if who == "mesh":
                name, _, rest = text.partition(" ")
                printed[name] = rest.strip()
        for name in (*SERVICE_NAMES, "gateway"):
            url = f"http://127.0.0.1:{env[f'SHUTTER_{name.upper()}_METRICS_PORT']}/metrics"
            assert printed[name].endswith(f"metrics {url}"), (name, printed[name])
            assert "process_cpu_seconds_total" in httpx.get(url, timeout=5).text
        ui = f"http://127.0.0.1:{env['SHUTTER_JAEGER_UI_PORT']}"
        assert printed["jaeger"].startswith(ui), printed

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
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, "\n".join(lines[-40:])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    reader.join(timeout=10)
