"""A real SeaweedFS (master, volume, filer and S3 gateway in one `weed server` process) for tests and
for `SHUTTER_STORE=cql make run`.

SeaweedFS is the open implementation of Facebook's Haystack and speaks S3, so the S3 blob store is
tested against the same kind of server we recommend deploying. `go install` refuses its module (its
go.mod has replace directives), so `build` downloads the pinned module, builds `./weed` in a writable
copy and renames the binary into .tools/bin at the end (nobody sees half a binary; skipped when it
exists). A server listens only on 127.0.0.1, on free ports, with its data under one directory.

    python -m tests.support.seaweedfs build     # what `make weed` runs (~5.5 min cold on 2 cores)
    python -m tests.support.seaweedfs run       # a server in the foreground, for `make run`
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from services.photo.s3_blobs import S3Config
from services.runtime.mesh import free_port

ROOT = Path(__file__).resolve().parents[2]
MODULE = "github.com/seaweedfs/seaweedfs"
VERSION = "v0.0.0-20261109003541-7506e5f91cd6"
WEED = ROOT / ".tools" / "bin" / "weed"

# The one identity tests and `make run` use; a deployment brings its own (docs/deploy.md).
ACCESS_KEY = "shutter"
SECRET_KEY = "shutter-local-secret"


class SeaweedUnavailable(RuntimeError):
    """The binary could not be built or the server did not start; the message says why."""


def build(target: Path = WEED) -> Path:
    """Build `weed` from the pinned module into `target` (a no-op when it exists)."""
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        raise SeaweedUnavailable("`go` is not on PATH; it builds SeaweedFS for the object-store tests")
    download = subprocess.run(
        [go, "mod", "download", "-json", f"{MODULE}@{VERSION}"], capture_output=True, text=True, check=False
    )
    if download.returncode != 0:
        raise SeaweedUnavailable(f"go mod download failed:\n{download.stdout}{download.stderr}")
    source = Path(json.loads(download.stdout)["Dir"])
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="seaweedfs-build-") as scratch:
        tree = Path(scratch) / "seaweedfs"
        # The module cache is read-only and `go build` here wants to write go.sum entries.
        shutil.copytree(source, tree, copy_function=shutil.copyfile)
        env = {**os.environ, "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
        began = time.monotonic()
        # nice: a cold build takes both cores for minutes; tests running beside it should still run.
        result = subprocess.run(
            ["nice", "-n", "10", go, "build", "-o", str(partial), "./weed"],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise SeaweedUnavailable(f"go build ./weed failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")
    partial.rename(target)
    print(f"built {target} in {time.monotonic() - began:.0f}s", flush=True)
    return target


def s3_config(server: SeaweedServer, bucket: str, **options: Any) -> S3Config:
    """An S3BlobStore configuration on `server` with the test identity."""
    return S3Config(endpoint=server.endpoint, bucket=bucket, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **options)


def identities_json(access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> str:
    """-s3.config: one identity allowed everything on every bucket (a deployment scopes its own)."""
    identity = {
        "name": "shutter",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    return json.dumps({"identities": [identity]})


class SeaweedServer:
    """`weed server`: master, one volume server, filer and S3 gateway in one process, every port (HTTP
    and gRPC) a free loopback one. `add_volume_server` starts more volume servers as processes of
    their own, so a test can kill one. `start()` returns once S3 answers a signed request."""

    def __init__(
        self,
        workdir: Path,
        replication: str = "",
        s3_port: int | None = None,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
    ) -> None:
        self.workdir = workdir
        self.access_key, self.secret_key = access_key, secret_key
        self.replication = replication
        self.master_port, self.master_grpc = free_port(), free_port()
        self.s3_port = s3_port or free_port()
        self.ports = {
            "volume.port": free_port(),
            "volume.port.grpc": free_port(),
            "filer.port": free_port(),
            "filer.port.grpc": free_port(),
            "s3.port.grpc": free_port(),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.volumes: list[subprocess.Popen[bytes]] = []
        self.startup_seconds: float | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def master(self) -> str:
        """The master's address as weed writes it: host:httpPort.grpcPort."""
        return f"127.0.0.1:{self.master_port}.{self.master_grpc}"

    def env(self, bucket: str = "shutter-photos") -> dict[str, str]:
        """Settings that put the photo service's bytes on this server."""
        return {
            "SHUTTER_BLOB_STORE": "s3",
            "SHUTTER_S3_ENDPOINT": self.endpoint,
            "SHUTTER_S3_BUCKET": bucket,
            "SHUTTER_S3_ACCESS_KEY": ACCESS_KEY,
            "SHUTTER_S3_SECRET_KEY": SECRET_KEY,
        }

    def command(self) -> list[str]:
        if not WEED.exists():
            raise SeaweedUnavailable(f"{WEED} is missing: run `make weed` (it builds SeaweedFS once)")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(identities_json(self.access_key, self.secret_key))
        return [
            str(WEED), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={self.master_port}", f"-master.port.grpc={self.master_grpc}",
            # Small volumes, enough slots: every bucket is a collection that grows 7 volumes at once.
            "-master.volumeSizeLimitMB=64", "-volume.max=100", "-master.telemetry=false",
            # One master: nobody to wait for, so a restarted one leads after 1 s instead of 10.
            "-master.electionTimeout=1s",
            *([f"-master.defaultReplication={self.replication}"] if self.replication else []),
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-filer", f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3", f"-s3.port={self.s3_port}", f"-s3.config={config}",
            f"-s3.localSocket={self.workdir / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip

    def start(self, timeout: float = 90.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        self.process = self._spawn(self.command(), "weed.log")
        try:
            self._wait_for_s3(began + timeout)
            if self.replication in ("", "000"):  # a replicated layout needs its other volume servers first
                self.wait_writable(began + timeout)
        except BaseException:
            self.kill()
            raise
        self.startup_seconds = time.monotonic() - began

    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        output = open(self.workdir / log_name, "ab")  # noqa: SIM115 - the child keeps it
        try:
            return subprocess.Popen(
                argv,
                cwd=self.workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_terminate_with_parent,
            )
        finally:
            output.close()

    def add_volume_server(self, timeout: float = 60.0) -> subprocess.Popen[bytes]:
        """Another volume server on this master (own directory, own ports); returns once registered."""
        index = len(self.volumes) + 1
        data = self.workdir / f"volume{index}"
        data.mkdir(parents=True, exist_ok=True)
        port, grpc_port = free_port(), free_port()
        argv = [
            str(WEED), "volume", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-port={port}", f"-port.grpc={grpc_port}", f"-master={self.master}", "-max=100",
        ]  # fmt: skip
        process = self._spawn(argv, f"volume{index}.log")
        self.volumes.append(process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SeaweedUnavailable(f"volume server exited while starting:\n{self.log_tail(f'volume{index}.log')}")
            if f"127.0.0.1:{port}" in self.volume_servers():
                return process
            time.sleep(0.2)
        raise SeaweedUnavailable(f"volume server did not register in time:\n{self.log_tail(f'volume{index}.log')}")

    def volume_servers(self) -> set[str]:
        """Volume servers the master knows (its /dir/status topology)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.master_port}/dir/status", timeout=2) as reply:
                topology = json.load(reply)["Topology"]
        except (OSError, ValueError, KeyError):
            return set()
        return {
            node["Url"]
            for center in topology.get("DataCenters") or []
            for rack in center.get("Racks") or []
            for node in rack.get("DataNodes") or []
        }

    def _wait_for_s3(self, deadline: float) -> None:
        """S3 listens a moment before it can serve (it waits for the filer): wait for a listing to work."""
        last_error = "S3 port never opened"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise SeaweedUnavailable(f"weed exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.list_buckets()
                return
            except Exception as exc:
                last_error = repr(exc)
            time.sleep(0.2)
        raise SeaweedUnavailable(f"SeaweedFS S3 did not answer in time ({last_error}):\n{self.log_tail()}")

    def wait_writable(self, deadline: float) -> None:
        """S3 answers reads before the master can place writes (a restarted master elects itself and
        warms up first): wait until it hands out a file id."""
        last_error = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.master_port}/dir/assign", timeout=5) as reply:
                    answer = json.load(reply)
                if answer.get("fid"):
                    return
                last_error = str(answer.get("error"))
            except (OSError, ValueError) as exc:
                last_error = repr(exc)
            time.sleep(0.2)
        raise SeaweedUnavailable(f"SeaweedFS did not accept writes in time ({last_error}):\n{self.log_tail()}")

    def list_buckets(self) -> list[str]:
        import botocore.session
        from botocore.config import Config

        client = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5
            ),
        )
        try:
            return [bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])]
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL everything: test data needs no flush, and SIGTERM takes ~20 s while the filer flushes."""
        for process in [*self.volumes, self.process]:
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (the filer flushes its metadata), then SIGKILL after `grace`."""
        for process in [*self.volumes, self.process]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.volumes, self.process]:
            if process is not None:
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)

    def log_tail(self, name: str = "weed.log", lines: int = 60) -> str:
        path = self.workdir / name
        if not path.exists():
            return "(no output)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _terminate_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies, even by SIGKILL (a test
    run killed, or `make run`'s supervisor giving up on a slow stop), so no weed outlives its owner.
    Linux sends it when the starting *thread* ends: start servers from a thread that lives as long."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run_foreground(port: int, workdir: Path | None) -> None:
    root = workdir or Path(tempfile.mkdtemp(prefix="shutter-seaweedfs-"))
    # The keys the photo service is given (`make run` makes a secret per run).
    access_key = os.environ.get("SHUTTER_S3_ACCESS_KEY", ACCESS_KEY)
    secret_key = os.environ.get("SHUTTER_S3_SECRET_KEY", SECRET_KEY)
    server = SeaweedServer(root, s3_port=port, access_key=access_key, secret_key=secret_key)
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(f"SeaweedFS S3 on {server.endpoint} (data in {root}), started in {server.startup_seconds:.1f}s", flush=True)
    try:
        while not stopping and server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.seaweedfs")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build .tools/bin/weed from the pinned module (cached)")
    run = commands.add_parser("run", help="run one server in the foreground until interrupted")
    run.add_argument("--port", type=int, default=int(os.environ.get("SHUTTER_S3_PORT", "8333")), help="S3 port")
    run.add_argument("--data", type=Path, default=None, help="data directory (default: a new temporary one)")
    args = parser.parse_args()
    try:
        if args.command == "build":
            build()
        else:
            _run_foreground(args.port, args.data)
    except SeaweedUnavailable as exc:
        raise SystemExit(str(exc)) from exc


if __name__ == "__main__":
    main()
