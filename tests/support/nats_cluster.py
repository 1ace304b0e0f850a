"""A three-node NATS JetStream cluster on loopback: routes between free ports, one cluster name, a store
directory and a monitoring port per node. `Mesh(..., nats=NatsCluster(...))` runs the services on it.

cluster = NatsCluster(workdir / "nats")        # nodes n1, n2, n3
cluster.start(); cluster.url                   # "nats://127.0.0.1:p1,nats://127.0.0.1:p2,…" (SHUTTER_NATS_URL)
cluster.kill(1); cluster.start_node(1)         # SIGKILL a node, bring it back on its ports and store
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx

from services.runtime.mesh import free_port, nats_server_binary

CLUSTER_NAME = "shutter"


class NatsCluster:
    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.workdir = workdir
        self.size = size
        self.client_ports = [free_port() for _ in range(size)]
        self.route_ports = [free_port() for _ in range(size)]
        self.monitor_ports = [free_port() for _ in range(size)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * size

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated: SHUTTER_NATS_URL for a cluster."""
        return ",".join(f"nats://127.0.0.1:{port}" for port in self.client_ports)

    def node_name(self, index: int) -> str:
        return f"n{index + 1}"

    def index_of(self, server_name: str) -> int:
        return int(server_name.removeprefix("n")) - 1

    def config(self, index: int) -> str:
        """nats-server's config for node `index` (JSON is valid NATS config syntax)."""
        routes = [f"nats-route://127.0.0.1:{port}" for i, port in enumerate(self.route_ports) if i != index]
        return json.dumps(
            {
                "server_name": self.node_name(index),
                "listen": f"127.0.0.1:{self.client_ports[index]}",
                "http": f"127.0.0.1:{self.monitor_ports[index]}",
                "jetstream": {"store_dir": str(self.workdir / self.node_name(index))},
                "cluster": {
                    "name": CLUSTER_NAME,
                    "listen": f"127.0.0.1:{self.route_ports[index]}",
                    "routes": routes,
                },
            },
            indent=2,
        )

    def start_node(self, index: int) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"{self.node_name(index)}.conf"
        config.write_text(self.config(index))
        log = open(self.workdir / f"{self.node_name(index)}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[index] = subprocess.Popen(
            [nats_server_binary(), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def start(self, timeout: float = 30) -> None:
        for index in range(self.size):
            self.start_node(index)
        for index in range(self.size):
            self.wait_healthy(index, timeout)

    def wait_healthy(self, index: int, timeout: float = 30) -> None:
        """Until the node's /healthz says its JetStream is up and current with the cluster."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.monitor_ports[index]}/healthz"
        last = ""
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(url, timeout=1)
                if answer.status_code == 200:
                    return
                last = answer.text
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(
            f"NATS node {self.node_name(index)} not healthy after {timeout:g}s: {last}\n{self.log_tail(index)}"
        )

    def kill(self, index: int) -> None:
        """SIGKILL one node (a crash: no lame-duck mode, no goodbye to the routes)."""
        process = self.processes[index]
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        self.processes[index] = None

    def stop(self) -> None:
        for index, process in enumerate(self.processes):
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            self.processes[index] = None

    def log_tail(self, index: int, lines: int = 30) -> str:
        path = self.workdir / f"{self.node_name(index)}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
