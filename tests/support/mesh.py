"""A real mesh for tests: nats-server and every service as separate processes on loopback.

Ports are picked free per session, data lives in a temporary directory, and each process's
output goes to a log file that is printed when a test needs to explain a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx

from services.runtime.auth import TokenAuthority
from services.runtime.config import Settings
from services.runtime.cql import keyspace_for
from services.runtime.mesh import gateway_command, nats_command, service_command, wait_until_serving
from services.runtime.topology import METRICS_PORTS, SERVICE_NAMES
from services.user.settings import TEST_PROFILE
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
AUTH_SECRET = "test-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mesh:
    def __init__(
        self, workdir: Path, services: tuple[str, ...] = SERVICE_NAMES, extra_env: dict[str, str] | None = None
    ):
        self.workdir = workdir
        self.services = services
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.nats_port = free_port()
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SHUTTER_DATA_DIR": str(workdir / "data"),
            "SHUTTER_AUTH_SECRET": AUTH_SECRET,
            "SHUTTER_NATS_URL": f"nats://127.0.0.1:{self.nats_port}",
            "SHUTTER_GATEWAY_PORT": str(free_port()),
            "SHUTTER_SHUTDOWN_GRACE_SECONDS": "5",
            # A real sign-up spends ~0.2 s of CPU hashing; tests of hashing itself use the real profile explicitly.
            "SHUTTER_PASSWORD_HASH_PROFILE": TEST_PROFILE,
            # Every test signs up and acts from 127.0.0.1: the abuse limits would refuse the suite itself. The
            # tests of the limits run a mesh of their own with them on (tests/e2e/test_limits.py).
            "SHUTTER_LIMITS_ENABLED": "0",
            **{f"SHUTTER_{name.upper()}_PORT": str(free_port()) for name in SERVICE_NAMES},
            **{f"SHUTTER_{name.upper()}_METRICS_PORT": str(free_port()) for name in METRICS_PORTS},
            **(extra_env or {}),
        }
        self.settings = Settings.from_env(self.env)
        self.tokens = TokenAuthority(AUTH_SECRET, 3600)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}

    # -- processes ---------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        environ = {**self.env, **(env or {})}
        process = subprocess.Popen(argv, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes[name] = process
        return process

    def start_nats(self) -> None:
        self._spawn("nats", nats_command(self.settings))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.nats_port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen:\n{self.log_tail('nats')}")

    def stop_nats(self) -> None:
        self.stop("nats")

    def start_service(self, name: str) -> None:
        self._spawn(name, service_command(name))

    def start_gateway(self, name: str = "gateway", env: dict[str, str] | None = None) -> str:
        """Start a gateway in front of the mesh; its base URL. Another `name` starts one more (a replica, on a
        port of its own, with `env` on top of the mesh's), as a deployment runs several."""
        port = self.settings.gateway_port if name == "gateway" else free_port()
        own = {"SHUTTER_GATEWAY_PORT": str(port)}
        if name != "gateway":
            own["SHUTTER_GATEWAY_METRICS_PORT"] = str(free_port())
        self._spawn(name, gateway_command(), {**(env or {}), **own})
        return f"http://{self.settings.host}:{port}"

    async def wait_gateway(self, timeout: float = 60, url: str | None = None, name: str = "gateway") -> None:
        await wait_answering(url or self.gateway_url, timeout, explain=lambda: self.log_tail(name))

    @property
    def gateway_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.gateway_port}"

    async def start(self) -> None:
        self.start_nats()
        for name in self.services:
            self.start_service(name)
        await asyncio.gather(*(self.wait_serving(name) for name in self.services))

    async def wait_serving(self, name: str, timeout: float = 60) -> None:
        if not await wait_until_serving(self.address(name), timeout):
            raise RuntimeError(f"{name} did not become SERVING:\n{self.log_tail(name)}")

    async def restart(self, name: str) -> None:
        self.stop(name)
        self.start_service(name)
        await self.wait_serving(name)

    def send_signal(self, name: str, signum: int) -> None:
        self.processes[name].send_signal(signum)

    def stop(self, name: str, signum: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return process.returncode if process else None
        process.send_signal(signum)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    async def __aenter__(self) -> Mesh:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        for name in list(self.processes):
            if name != "nats":
                self.stop(name)
        self.stop("nats")

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- clients -----------------------------------------------------------------------------

    def address(self, name: str) -> str:
        return self.settings.addresses[name]

    def metrics_url(self, name: str) -> str:
        """Where process `name` (a service or "gateway") serves its Prometheus metrics."""
        return f"http://{self.settings.host}:{self.env[f'SHUTTER_{name.upper()}_METRICS_PORT']}/metrics"

    def channel(self, name: str) -> grpc.aio.Channel:
        if name not in self._channels:
            self._channels[name] = grpc.aio.insecure_channel(self.address(name))
        return self._channels[name]

    def user_token(self, user_id: int) -> str:
        """A token minted with the mesh's secret; tests get theirs from tests/support/users.py."""
        return self.tokens.issue_user_token(user_id)[0]

    def keyspace(self, service: str) -> str:
        """The CQL keyspace `service` keeps its tables in, when the mesh runs on SHUTTER_STORE=cql."""
        return keyspace_for(self.settings, service)


def auth(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying a bearer token."""
    return (("authorization", f"Bearer {token}"),)


async def wait_answering(base_url: str, timeout: float = 60, explain: Callable[[], str] | None = None) -> None:
    """Until a gateway answers HTTP at `base_url` (its /openapi.json needs no service)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=1) as client:

        async def answers() -> bool:
            with contextlib.suppress(httpx.TransportError):
                return (await client.get("/openapi.json")).status_code == 200
            return False

        await eventually(answers, timeout, interval=0.1, explain=explain)
