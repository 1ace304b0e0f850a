"""The container image's recipe, and that what it copies is enough to run every process.

No Docker engine runs here, so the image is not built; instead the files its COPY lines take are
laid out the way the image lays them out and the processes' modules are imported from there.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nats
import yaml
from cassandra.cluster import Cluster

from services.runtime.events import DEAD_LETTER_STREAM, EVENTS_STREAM
from services.runtime.mesh import nats_server_binary
from services.runtime.topology import SERVICE_NAMES
from tests.support.cassandra import CassandraNode
from tests.support.mesh import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
CHART_VALUES = yaml.safe_load((ROOT / "charts" / "shutter" / "values.yaml").read_text())


def copied_sources() -> list[str]:
    """Sources of the COPY lines that take files from the build context (not --from another stage)."""
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += line.split()[1:-1]
    return sources


def image_layout(tmp_path: Path) -> Path:
    """/app as the image has it: the COPY sources from the build context, nothing else."""
    app = tmp_path / "app"
    app.mkdir()
    for source in copied_sources():
        path = ROOT / source.rstrip("/")
        if path.is_dir():
            shutil.copytree(path, app / path.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, app / path.name)
    return app


def image_env(app: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "PYTHONPATH": f"{app}:{app / 'gen'}", "PYTHONDONTWRITEBYTECODE": "1", **extra}


def test_base_image_is_pinned_and_the_same_for_both_stages() -> None:
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm|python@sha256:[0-9a-f]{64}", default), default
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]


def test_image_runs_as_the_charts_non_root_user() -> None:
    (user,) = re.findall(r"^USER (\d+):(\d+)$", DOCKERFILE, re.MULTILINE)
    assert int(user[0]) == CHART_VALUES["securityContext"]["runAsUser"] != 0
    assert int(user[1]) == CHART_VALUES["securityContext"]["runAsGroup"] != 0
    assert "PYTHONPATH=/app:/app/gen" in DOCKERFILE
    assert "PYTHONDONTWRITEBYTECODE=1" in DOCKERFILE
    assert f"SHUTTER_DATA_DIR={CHART_VALUES['config']['dataDir']}" in DOCKERFILE


def test_image_installs_runtime_requirements_only() -> None:
    assert sorted(copied_sources()) == sorted(["requirements.txt", "gen/", "services/", "gateway/", "web/"])
    assert "requirements-dev.txt" not in DOCKERFILE
    assert "pip install --only-binary=:all: -r /tmp/requirements.txt" in DOCKERFILE


def test_dockerignore_lets_in_exactly_what_the_image_copies() -> None:
    allowed = sorted(line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!"))
    assert allowed == sorted(copied_sources())


def test_every_process_imports_from_the_image_layout(tmp_path: Path) -> None:
    app = image_layout(tmp_path)
    modules = [*(f"services.{name}.__main__" for name in SERVICE_NAMES), "gateway.__main__", "gateway.app"]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(app)!r}), (name, module.__file__)\n"
        "from gateway.web import DEFAULT_ROOT\n"
        "assert (DEFAULT_ROOT / 'index.html').is_file(), 'the gateway serves the web client from the image'\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=app, env=image_env(app), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


async def stream_names(url: str) -> set[str]:
    client = await nats.connect(url)
    try:
        return {info.config.name for info in await client.jetstream().streams_info()}
    finally:
        await client.close()


def migrate_step(name: str) -> dict:
    (step,) = [step for step in CHART_VALUES["migrate"]["steps"] if step["name"] == name]
    return step


async def test_default_migrate_step_creates_the_cql_schema(tmp_path: Path, cassandra: CassandraNode) -> None:
    """The chart's CQL step, run from the image layout against a real Cassandra node."""
    app = image_layout(tmp_path)
    prefix = f"chartmig{uuid.uuid4().hex[:8]}"
    step = migrate_step("cql-schema")
    assert step["command"][0] == "python"
    env = image_env(app, SHUTTER_STORE="cql", SHUTTER_CQL_PORT=str(cassandra.native_port), SHUTTER_CQL_KEYSPACE=prefix)
    process = await asyncio.create_subprocess_exec(
        sys.executable, *step["command"][1:], cwd=app, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    cluster = Cluster(["127.0.0.1"], port=cassandra.native_port)
    try:
        rows = cluster.connect().execute("SELECT keyspace_name FROM system_schema.keyspaces")
        keyspaces = {row.keyspace_name for row in rows}
    finally:
        cluster.shutdown()
    stateful = {"user", "follow", "photo", "like", "comment", "feed", "search"}
    assert {f"{prefix}_{name}" for name in stateful} <= keyspaces


async def test_default_migrate_step_creates_the_jetstream_streams(tmp_path: Path) -> None:
    """The chart's hook Job command, run from the image layout against a real nats-server."""
    app = image_layout(tmp_path)
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    server = subprocess.Popen(
        [nats_server_binary(), "--jetstream", "--addr", "127.0.0.1", "--port", str(port), "--store_dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        step = migrate_step("jetstream-streams")
        assert step["command"][0] == "python"
        command = [sys.executable, *step["command"][1:]]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=app, env=image_env(app, SHUTTER_NATS_URL=url), stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()
        assert {EVENTS_STREAM, DEAD_LETTER_STREAM} <= await stream_names(url)
    finally:
        server.terminate()
        server.wait(timeout=10)
