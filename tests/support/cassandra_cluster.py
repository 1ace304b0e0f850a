"""A three-node Apache Cassandra 5.0 cluster on one machine: nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3
(Linux routes all of 127/8 to lo), the same ports on each, seeded by the first, 16 vnodes, small heaps and
hinted handoff on, from the same jars as the single test node (tests/support/cassandra.py).

cluster = CassandraCluster(workdir)
cluster.start()                                  # one node after the other; each answers CQL
cluster.contact_points, cluster.native_port      # SHUTTER_CQL_CONTACT_POINTS, SHUTTER_CQL_PORT
cluster.nodes[2].kill(); cluster.nodes[2].start()
cluster.pending_hints(0)                         # hint files node 1 still holds for others
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.support.cassandra import CassandraNode

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
REPLICATION_RF3 = "{'class': 'SimpleStrategy', 'replication_factor': 3}"


def port_free_everywhere(addresses: tuple[str, ...] = ADDRESSES) -> int:
    """A port free on every one of `addresses` (each node listens on its own address, same port)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket() as sock:
                    sock.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no port free on all of {addresses}")


class CassandraCluster:
    def __init__(self, workdir: Path, heap_mb: int = 512, num_tokens: int = 16) -> None:
        self.workdir = workdir
        self.native_port = port_free_everywhere()
        self.storage_port = port_free_everywhere()
        seeds = f"{ADDRESSES[0]}:{self.storage_port}"
        self.nodes = [
            CassandraNode(
                workdir / f"node{number}",
                heap_mb,
                self.native_port,
                address=address,
                storage_port=self.storage_port,
                seeds=seeds,
                num_tokens=num_tokens,
            )
            for number, address in enumerate(ADDRESSES, start=1)
        ]
        self.startup_seconds: float | None = None

    @property
    def contact_points(self) -> str:
        return ",".join(ADDRESSES)

    def start(self, timeout_per_node: float = 240.0) -> None:
        """Node after node (joining one at a time is what Cassandra asks), each until it answers CQL."""
        began = time.monotonic()
        try:
            for node in self.nodes:
                node.start(timeout_per_node)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def pending_hints(self, index: int) -> int:
        """Bytes of hint files node `index` holds for nodes that missed writes (0: all delivered)."""
        hints = self.nodes[index].workdir / "hints"
        return sum(path.stat().st_size for path in hints.glob("*.hints")) if hints.exists() else 0

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
