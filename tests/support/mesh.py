"""A real mesh for tests: nats-server and every service as separate processes on loopback.

Ports are picked free per session, data lives in a temporary directory, and each process's
output goes to a log file that is printed when a test needs to explain a failure.

`Mesh(workdir, replicas=2)` runs two replicas of every service (`photo` and `photo-2`…), each on its
own port and id shard, as `SHUTTER_REPLICAS=2 make run` does; every process, and the test's own
channels, balance over them with the runtime's round_robin and retry policy.
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
from services.runtime.channels import channel_options
from services.runtime.config import Settings
from services.runtime.cql import keyspace_for
from services.runtime.mesh import (
    Replica,
    free_port,
    gateway_command,
    nats_command,
    plan_replicas,
    replica_targets,
    service_command,
    wait_until_serving,
)
from services.runtime.topology import METRICS_PORTS, SERVICE_NAMES
from services.user.settings import TEST_PROFILE
from tests.support.nats_cluster import NatsCluster
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
AUTH_SECRET = "test-secret-" + "x" * 40


class Mesh:
    def __init__(
        self,
        workdir: Path,
        services: tuple[str, ...] = SERVICE_NAMES,
        extra_env: dict[str, str] | None = None,
        replicas: int = 1,
        nats: NatsCluster | None = None,
    ):
        self.workdir = workdir
        self.services = services
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.nats_port = free_port()
        self.nats_cluster = nats  # a cluster instead of one nats-server: streams R3, the client knows every node
        cluster_env = {"SHUTTER_NATS_URL": nats.url, "SHUTTER_NATS_STREAM_REPLICAS": "3"} if nats else {}
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
            **cluster_env,
            **(extra_env or {}),
        }
        self.replicas: dict[str, list[Replica]] = plan_replicas(self.env, replicas, services) if replicas > 1 else {}
        self.env.update(replica_targets(self.replicas))
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
        if self.nats_cluster is not None:
            self.nats_cluster.start()
            return
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
        """Start service `name`, or every replica of it on a replicated mesh."""
        for replica in self.replicas.get(name, []) or [None]:
            if replica is None:
                self._spawn(name, service_command(name))
            else:
                self._spawn(replica.name, service_command(name), replica.env())

    def replica(self, name: str) -> Replica:
        """A replica by its process name (`photo-2`)."""
        return next(r for group in self.replicas.values() for r in group if r.name == name)

    async def restart_replica(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Stop one replica (SIGKILL by default: a crash), start it again, wait until it is SERVING."""
        replica = self.replica(name)
        self.stop(name, signum)
        self._spawn(name, service_command(replica.service), replica.env())
        await self.wait_replica(replica)

    async def wait_replica(self, replica: Replica, timeout: float = 60) -> None:
        if not await wait_until_serving(replica.address, timeout):
            raise RuntimeError(f"{replica.name} did not become SERVING:\n{self.log_tail(replica.name)}")

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
        if name in self.replicas:
            await asyncio.gather(*(self.wait_replica(replica, timeout) for replica in self.replicas[name]))
            return
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
        if self.nats_cluster is not None:
            self.nats_cluster.stop()

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
        """The test's channel to service `name`; on a replicated mesh, balanced over its replicas with the
        runtime's own service config (round_robin, retries of the contract's idempotent methods)."""
        if name not in self._channels:
            if name in self.replicas:
                self._channels[name] = grpc.aio.insecure_channel(self.address(name), options=channel_options(name))
            else:
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
