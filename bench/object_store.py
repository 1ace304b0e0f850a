"""Object-store throughput: photo uploads and downloads on the S3 path, as ratios to what SeaweedFS
itself does in the same run.

    .venv/bin/python -m bench.object_store [--quick]     (`make bench` runs it as one of its sections)

Starts its own SeaweedFS (`weed server`) and a mesh of nats-server + photo + gateway with
SHUTTER_BLOB_STORE=s3, then measures closed-loop throughput at a fixed concurrency, every operation on
~200 KB (the design's photo size):

- baselines: SeaweedFS's own PUT (aiobotocore put_object, as the store sends it) and GET (plain HTTP
  GETs of presigned URLs straight to SeaweedFS, the same HTTP client as the downloads below);
- upload: UploadPhoto over gRPC (staging, decode and two renditions, three checksummed PUTs, the row);
- download streamed: GET /v1/photos/{id}/content of the ~200 KB original, as its owner, through the
  gateway (bytes pass through Python);
- download presigned: the same with `accept_url=true`: a 307 from the gateway, then the bytes from
  SeaweedFS.

For the photo paths it also reports the CPU the photo service and the gateway spent per operation:
what a presigned download saves is Python CPU per byte served, which is what sizes those fleets.

The load generator runs in this process, on the same cores: the ratios are what carry over to other
machines, not the absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from PIL import Image

from bench.report import markdown_table
from services.photo.s3_blobs import S3BlobStore
from tests.support.mesh import Mesh
from tests.support.photos import upload_response
from tests.support.seaweedfs import SeaweedServer, s3_config

PHOTO_BYTES = 200 * 1024


@dataclass(frozen=True)
class Sizes:
    concurrency: int
    baseline_ops: int
    uploads: int
    downloads: int


QUICK = Sizes(concurrency=4, baseline_ops=40, uploads=12, downloads=40)
FULL = Sizes(concurrency=8, baseline_ops=600, uploads=120, downloads=600)


@dataclass(frozen=True)
class Rate:
    name: str
    ops: int
    errors: int
    seconds: float
    bytes: int
    # CPU the mesh's Python processes (photo service + gateway) spent per operation, when measured.
    python_cpu_ms_per_op: float | None = None

    @property
    def ops_per_s(self) -> float:
        return round(self.ops / self.seconds, 1) if self.seconds else 0.0

    @property
    def mib_per_s(self) -> float:
        return round(self.bytes / self.seconds / 2**20, 1) if self.seconds else 0.0

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "ops_per_s": self.ops_per_s, "mib_per_s": self.mib_per_s}


def with_descendants(pids: list[int]) -> list[int]:
    """The processes and all their children (the photo service's image workers do the rendering)."""
    found, pending = [], list(pids)
    while pending:
        pid = pending.pop()
        found.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            pending.extend(int(child) for child in children.read_text().split())
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their children so far (/proc/<pid>/stat)."""
    ticks = 0
    for pid in with_descendants(pids):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def closed_loop(
    name: str, op: Callable[[int], Awaitable[int]], count: int, concurrency: int, cpu_of: list[int] | None = None
) -> Rate:
    """`count` operations by `concurrency` workers, each starting the next as soon as one ends; with
    `cpu_of`, also the CPU those processes spent per operation."""
    next_index = 0
    done_bytes = 0
    errors = 0

    async def worker() -> None:
        nonlocal next_index, done_bytes, errors
        while next_index < count:
            index = next_index
            next_index += 1
            try:
                moved = await op(index)
            except Exception:
                errors += 1
            else:
                done_bytes += moved  # after the await: `x += await f()` would read x before awaiting

    cpu_before = cpu_seconds(cpu_of) if cpu_of else 0.0
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - began
    cpu_ms = (cpu_seconds(cpu_of) - cpu_before) * 1000 / max(count - errors, 1) if cpu_of else None
    return Rate(name, count - errors, errors, seconds, done_bytes, round(cpu_ms, 2) if cpu_ms is not None else None)


def photo_jpeg(target: int = PHOTO_BYTES, seed: int = 7) -> bytes:
    """A JPEG of about `target` bytes: a gradient with noise, so it compresses like a photo."""
    rng = random.Random(seed)
    width = 640
    while True:
        height = width * 3 // 4
        noise = Image.frombytes("L", (width, height), rng.randbytes(width * height)).convert("RGB")
        gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        out = io.BytesIO()
        Image.blend(gradient, noise, 0.25).save(out, format="JPEG", quality=85)
        if out.tell() >= target or width > 4000:
            return out.getvalue()
        width = int(width * 1.15)


async def measure(workdir: Path, sizes: Sizes, log: Callable[[str], None] = print) -> dict[str, object]:
    """Every rate and the ratios; starts and stops its own SeaweedFS and mesh under `workdir`."""
    server = SeaweedServer(workdir / "seaweedfs")
    server.start()  # in this thread: the server ends with the thread that started it
    rates: dict[str, Rate] = {}
    try:
        rates.update(await _baselines(server, sizes, log))
        rates.update(await _photo_paths(server, workdir, sizes, log))
    finally:
        server.kill()

    def ratio(a: str, b: str) -> float | None:
        x, y = rates[a].ops_per_s, rates[b].ops_per_s
        return round(x / y, 3) if x and y else None

    return {
        "sizes": asdict(sizes),
        "rates": {name: rate.to_dict() for name, rate in rates.items()},
        "ratios": {
            "upload_over_put": ratio("upload (gRPC)", "SeaweedFS PUT"),
            "streamed_download_over_get": ratio("download streamed (gateway)", "SeaweedFS GET"),
            "presigned_download_over_get": ratio("download presigned (307 + store)", "SeaweedFS GET"),
        },
        "seaweedfs_startup_s": round(server.startup_seconds or 0, 1),
    }


async def _baselines(server: SeaweedServer, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Rate]:
    store = S3BlobStore(s3_config(server, "bench-baseline"))
    await store.start()
    payload = os.urandom(PHOTO_BYTES)
    try:

        async def put(index: int) -> int:
            await store.client.put_object(Bucket="bench-baseline", Key=f"base/{index}", Body=payload)
            return len(payload)

        put_rate = await closed_loop("SeaweedFS PUT", put, sizes.baseline_ops, sizes.concurrency)
        log(f"SeaweedFS PUT: {put_rate.ops_per_s}/s")
        urls = [
            await store.client.generate_presigned_url(
                "get_object", Params={"Bucket": "bench-baseline", "Key": f"base/{index}"}, ExpiresIn=3600
            )
            for index in range(sizes.baseline_ops)
        ]
    finally:
        await store.stop()
    async with httpx.AsyncClient(timeout=60) as http:

        async def get(index: int) -> int:
            reply = await http.get(urls[index % len(urls)])
            reply.raise_for_status()
            return len(reply.content)

        get_rate = await closed_loop("SeaweedFS GET", get, sizes.baseline_ops, sizes.concurrency)
    log(f"SeaweedFS GET: {get_rate.ops_per_s}/s")
    return {put_rate.name: put_rate, get_rate.name: get_rate}


async def _photo_paths(
    server: SeaweedServer, workdir: Path, sizes: Sizes, log: Callable[[str], None]
) -> dict[str, Rate]:
    env = {**server.env("bench-photos"), "SHUTTER_LOG_LEVEL": "WARNING"}
    mesh = Mesh(workdir / "mesh", services=("follow", "photo"), extra_env=env)
    try:
        await mesh.start()
        mesh.start_gateway()
        await mesh.wait_gateway()
        owner = 4242
        token = mesh.user_token(owner)
        image = photo_jpeg()
        photo_ids: list[int] = []

        async def upload(index: int) -> int:
            reply = await upload_response(mesh, token, owner, image, timeout=120)
            photo_ids.append(reply.photo.photo_id)
            return len(image)

        python = [process.pid for name, process in mesh.processes.items() if name in ("photo", "gateway")]
        upload_rate = await closed_loop("upload (gRPC)", upload, sizes.uploads, sizes.concurrency, python)
        log(f"upload: {upload_rate.ops_per_s}/s of {len(image)} B photos")
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=mesh.gateway_url, timeout=60, headers=headers) as gateway,
            httpx.AsyncClient(timeout=60) as direct,
        ):

            async def streamed(index: int) -> int:
                path = f"/v1/photos/{photo_ids[index % len(photo_ids)]}/content?variant=PHOTO_VARIANT_ORIGINAL"
                reply = await gateway.get(path)
                reply.raise_for_status()
                return len(reply.content)

            async def presigned(index: int) -> int:
                path = f"/v1/photos/{photo_ids[index % len(photo_ids)]}/content?variant=PHOTO_VARIANT_ORIGINAL"
                redirect = await gateway.get(f"{path}&accept_url=true")
                if redirect.status_code != 307:
                    raise RuntimeError(f"expected a redirect, got {redirect.status_code}")
                reply = await direct.get(redirect.headers["location"])
                reply.raise_for_status()
                return len(reply.content)

            streamed_rate = await closed_loop(
                "download streamed (gateway)", streamed, sizes.downloads, sizes.concurrency, python
            )
            log(f"download streamed: {streamed_rate.ops_per_s}/s")
            presigned_rate = await closed_loop(
                "download presigned (307 + store)", presigned, sizes.downloads, sizes.concurrency, python
            )
            log(f"download presigned: {presigned_rate.ops_per_s}/s")
    finally:
        await mesh.close()
    return {rate.name: rate for rate in (upload_rate, streamed_rate, presigned_rate)}


def report_section(results: dict[str, object]) -> list[str]:
    """The bench report's object-store section (markdown lines)."""
    rates = results.get("rates") or {}
    ratios = results.get("ratios") or {}
    sizes = results.get("sizes") or {}
    assert isinstance(rates, dict) and isinstance(ratios, dict) and isinstance(sizes, dict)
    return [
        "## Object store (S3 API on SeaweedFS)",
        "",
        f"Closed loop, {sizes.get('concurrency')} concurrent clients, ~200 KB objects; baselines are SeaweedFS's "
        "own PUT and GET measured in this run.",
        "",
        markdown_table(
            ["operation", "ops/s", "MiB/s", "errors", "Python CPU ms/op (photo + gateway)"],
            [
                [name, r["ops_per_s"], r["mib_per_s"], r["errors"], r.get("python_cpu_ms_per_op") or ""]
                for name, r in rates.items()
            ],
        ),
        "",
        markdown_table(["ratio", "measured"], [[name, value] for name, value in ratios.items()]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as workdir:
        results = asyncio.run(measure(Path(workdir), QUICK if options.quick else FULL))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    print("\n".join(report_section(results)))
    print(json.dumps(results["ratios"]))


if __name__ == "__main__":
    main()
