"""A real single-node Apache Cassandra 5.0 for tests (CQL-compatible with ScyllaDB, which we deploy).

No ScyllaDB build installs on our machines, so the CQL conformance run uses Cassandra: Maven fetches
`org.apache.cassandra:cassandra-all` and its dependencies (tests/support/cassandra/pom.xml) into
.tools/cassandra/lib once; Maven's own ~/.m2 cache makes a re-fetch after `make clean` cheap. A node
is `java ... org.apache.cassandra.service.CassandraDaemon` with a generated cassandra.yaml: loopback
only, free ports, every directory under a temporary one, and the settings that make one node start
in seconds instead of the ~30 s a stock node waits for gossip and ring settling.

    python -m tests.support.cassandra fetch     # what `make cassandra-jars` runs
    python -m tests.support.cassandra run       # a node in the foreground, for `SHUTTER_STORE=cql make run`
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.runtime.mesh import free_port

ROOT = Path(__file__).resolve().parents[2]
POM = ROOT / "tests" / "support" / "cassandra" / "pom.xml"
CASSANDRA_HOME = ROOT / ".tools" / "cassandra"
LIB_DIR = CASSANDRA_HOME / "lib"
STAMP = CASSANDRA_HOME / "lib.sha256"  # the pom's hash: a changed pom re-fetches

# From Cassandra's conf/jvm17-server.options: Cassandra reaches into JDK internals that Java 17 closes.
JVM17_FLAGS = [
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
]

# A test node: small heap, quick JIT, no waiting for a ring that has one member.
TEST_JVM_FLAGS = [
    "-Xss512k",
    "-XX:+UseSerialGC",  # on 2 shared cores, parallel GC threads only compete with the tests
    "-XX:TieredStopAtLevel=1",  # C1 only: starts faster; peak speed does not matter in tests
    "-XX:+ExitOnOutOfMemoryError",
    "-Dcassandra-foreground=yes",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=100",
    "-Dcassandra.join_ring=true",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.shutdown_announce_in_ms=0",  # nobody to tell: stop without the 2 s announcement
    "-Dcassandra.unsafesystem=true",  # system tables skip the commit log: schema changes take ms, not s
]

CASSANDRA_YAML = """\
cluster_name: shutter-test
{tokens}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seeds}"
listen_address: {address}
rpc_address: {address}
auto_bootstrap: false
storage_port: {storage_port}
ssl_storage_port: {ssl_storage_port}
start_native_transport: true
native_transport_port: {native_port}
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer
data_file_directories:
  - {root}/data
commitlog_directory: {root}/commitlog
saved_caches_directory: {root}/saved_caches
hints_directory: {root}/hints
cdc_raw_directory: {root}/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
concurrent_compactors: 1
key_cache_size: 8MiB
counter_cache_size: 4MiB
hinted_handoff_enabled: {hinted_handoff}
hints_flush_period: 2000ms
auto_snapshot: false
snapshot_before_compaction: false
dynamic_snitch: false
incremental_backups: false
storage_compatibility_mode: NONE
"""

LOGBACK_XML = """\
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{root}/system.log</file>
    <encoder><pattern>%date{{ISO8601}} %-5level [%thread] %logger{{0}} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""


class CassandraUnavailable(RuntimeError):
    """The node could not be fetched or started; the message says why and what to run."""


def _pom_hash() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready() -> bool:
    return STAMP.exists() and STAMP.read_text().strip() == _pom_hash() and any(LIB_DIR.glob("cassandra-all-*.jar"))


def fetch_jars() -> None:
    """Copy cassandra-all and its runtime dependencies into LIB_DIR (a no-op when the pom is unchanged)."""
    if jars_ready():
        STAMP.touch()  # keeps make's view of the target fresh after a pom edit that changed nothing
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise CassandraUnavailable("Maven (`mvn`) is not installed; it fetches Cassandra for the CQL tests")
    shutil.rmtree(LIB_DIR, ignore_errors=True)
    command = [
        mvn,
        "--batch-mode",
        "--quiet",
        "--file",
        str(POM),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={LIB_DIR}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(LIB_DIR.glob("cassandra-all-*.jar")):
        raise CassandraUnavailable(f"fetching Cassandra with Maven failed:\n{result.stdout[-4000:]}{result.stderr}")
    STAMP.write_text(_pom_hash())


class CassandraNode:
    """One Cassandra process on loopback; `start()` returns once a CQL query has succeeded.

    Alone by default (one token, no hints). A member of a cluster (tests.support.cassandra_cluster) gets
    its own loopback `address` (127.0.0.2…: Linux routes all of 127/8 to lo), the cluster's `seeds`,
    `num_tokens` vnodes and hinted handoff.
    """

    def __init__(
        self,
        workdir: Path,
        heap_mb: int = 768,
        native_port: int | None = None,
        *,
        address: str = "127.0.0.1",
        storage_port: int | None = None,
        seeds: str | None = None,
        num_tokens: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.heap_mb = heap_mb
        self.address = address
        self.native_port = native_port or free_port()
        self.storage_port = storage_port or free_port()
        self.seeds = seeds or f"{address}:{self.storage_port}"
        self.num_tokens = num_tokens
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "system.log"

    def command(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise CassandraUnavailable("`java` (17) is not on PATH; the CQL tests run a real Cassandra node")
        jamm = sorted(LIB_DIR.glob("jamm-*.jar"))
        return [
            java,
            f"-Xms{self.heap_mb}m",
            f"-Xmx{self.heap_mb}m",
            *JVM17_FLAGS,
            # A cluster member keeps its system tables in the commit log: one SIGKILLed right after it joined
            # must come back as itself (its host id and tokens), not as a stranger claiming its address.
            *(flag for flag in TEST_JVM_FLAGS if self.num_tokens is None or flag != "-Dcassandra.unsafesystem=true"),
            *([f"-javaagent:{jamm[0]}"] if jamm else []),  # lets Cassandra measure memtable sizes exactly
            f"-Dcassandra.config=file://{self.workdir}/cassandra.yaml",
            f"-Dcassandra.storagedir={self.workdir}",
            f"-Dcassandra.logdir={self.workdir}",
            f"-Dlogback.configurationFile=file://{self.workdir}/logback.xml",
            "-cp",
            f"{LIB_DIR}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        alone = self.num_tokens is None
        yaml = CASSANDRA_YAML.format(
            tokens="num_tokens: 1\ninitial_token: 0" if alone else f"num_tokens: {self.num_tokens}",
            seeds=self.seeds,
            address=self.address,
            hinted_handoff="false" if alone else "true",
            root=self.workdir,
            native_port=self.native_port,
            storage_port=self.storage_port,
            ssl_storage_port=free_port(),
        )
        (self.workdir / "cassandra.yaml").write_text(yaml)
        (self.workdir / "logback.xml").write_text(LOGBACK_XML.format(root=self.workdir))

    def start(self, timeout: float = 180.0) -> None:
        if not jars_ready():
            fetch_jars()
        self.write_config()
        began = time.monotonic()
        output = open(self.workdir / "stdout.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            self.command(), cwd=self.workdir, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        output.close()
        try:
            self._wait_for_cql(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _wait_for_cql(self, deadline: float) -> None:
        """The port opens a moment before the node serves queries, so wait for a query to succeed."""
        last_error = "native transport port never opened"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise CassandraUnavailable(
                    f"Cassandra exited with code {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            with socket.socket() as sock:
                if sock.connect_ex((self.address, self.native_port)) == 0:
                    try:
                        self.query_release_version()
                        return
                    except Exception as exc:
                        last_error = repr(exc)
            time.sleep(0.2)
        raise CassandraUnavailable(f"Cassandra did not serve CQL in time ({last_error}):\n{self.log_tail()}")

    def query_release_version(self) -> str:
        from cassandra.cluster import Cluster

        cluster = Cluster([self.address], port=self.native_port, connect_timeout=5, control_connection_timeout=5)
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local", timeout=10).one()
            return row.release_version
        finally:
            cluster.shutdown()

    def kill(self) -> None:
        """SIGKILL: the node crashes (no drain, no goodbye to gossip)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM (Cassandra drains and exits), then SIGKILL if it is still there after `grace`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        parts = []
        for path in (self.workdir / "stdout.log", self.log_path):
            if path.exists():
                parts.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts) or "(no output)"


def _run_foreground(port: int, workdir: Path | None) -> None:
    root = workdir or Path(tempfile.mkdtemp(prefix="shutter-cassandra-"))
    node = CassandraNode(root, native_port=port)
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    node.start()
    print(f"Cassandra serving CQL on 127.0.0.1:{port} (data in {root}), started in {node.startup_seconds:.1f}s")
    sys.stdout.flush()
    try:
        while not stopping and node.process is not None and node.process.poll() is None:
            time.sleep(0.5)
    finally:
        node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.cassandra")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="fetch Cassandra's jars with Maven (cached)")
    run = commands.add_parser("run", help="run one node in the foreground until interrupted")
    run.add_argument("--port", type=int, default=int(os.environ.get("SHUTTER_CQL_PORT", "9042")))
    run.add_argument("--data", type=Path, default=None, help="data directory (default: a new temporary one)")
    args = parser.parse_args()
    try:
        if args.command == "fetch":
            fetch_jars()
            print(f"Cassandra jars in {LIB_DIR}")
        else:
            _run_foreground(args.port, args.data)
    except CassandraUnavailable as exc:
        raise SystemExit(str(exc)) from exc


if __name__ == "__main__":
    main()
