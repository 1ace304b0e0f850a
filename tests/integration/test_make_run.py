"""`make run`'s supervisor for real: the whole mesh on free ports in a temporary directory, `ready`
printed as documented, and Ctrl-C (SIGINT) stopping it in dependency order (gateway, services, NATS)
with exit code 0 and not a single error logged. With tracing asked for: every process's metrics URL
printed and answering, a local Jaeger started with its UI printed, and requests' spans in it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from services.runtime.topology import SERVICE_NAMES
from tests.support.jaeger import JAEGER_BINARY
from tests.support.mesh import AUTH_SECRET, free_port
from tests.support.supervised import LINE, Supervised, run_env

pytestmark = pytest.mark.slow


def _json(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def test_the_mesh_starts_prints_ready_and_stops_cleanly_in_order_on_ctrl_c(tmp_path: Path) -> None:
    with Supervised(run_env(tmp_path)) as mesh:
        mesh.wait_ready(120)
        code = mesh.interrupt(60)
    lines = mesh.lines
    output = "\n".join(lines)
    assert code == 0, mesh.explain()

    parsed = mesh.parsed()
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
    env = run_env(
        tmp_path,
        SHUTTER_AUTH_SECRET=AUTH_SECRET,
        SHUTTER_TRACING="1",
        SHUTTER_JAEGER_OTLP_PORT=str(free_port()),
        SHUTTER_JAEGER_UI_PORT=str(free_port()),
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    with Supervised(env) as mesh:
        mesh.wait_ready(120)
        printed = {}
        for who, text in mesh.parsed():
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
        assert mesh.interrupt(60) == 0, mesh.explain(40)
