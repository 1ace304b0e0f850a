"""`make bench-replicas`: the design mix's throughput with 1 and with 2 replicas of every service, on this
machine, for the capacity model (bench/capacity.py reads bench/out/replicas.json).

The same closed-loop driver as the scale tests (tests/support/mix.py), with more workers for 2 replicas so
the offered concurrency per replica is the same. On shared cores a second replica adds processes, not CPU:
the ratio of the two totals says how much of a replica's throughput was the process (the GIL, its event
loop) rather than the machine.

    python -m bench.replicas [--seconds 30] [--workers 8] [--out bench/out/replicas.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path

from tests.support.mesh import Mesh
from tests.support.mix import Mix
from tests.support.users import sign_up_many

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "out" / "replicas.json"
WARM_UP_SECONDS = 5.0


async def measure(replicas: int, seconds: float, workers: int, workdir: Path) -> dict[str, object]:
    """The mix for `seconds` after a warm-up, on a mesh with `replicas` of every service."""
    mesh = Mesh(workdir, replicas=replicas)
    try:
        await mesh.start()
        authors = await sign_up_many(mesh, 4, "author")
        readers = await sign_up_many(mesh, 8, "reader")
        (bystander,) = await sign_up_many(mesh, 1, "bystander")
        for reader in readers:
            for author in authors:
                await reader.follow(mesh, author)
        warm = Mix(mesh, list(authors), list(readers), bystander)
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(WARM_UP_SECONDS, stop.set)
        await warm.run(stop, workers * replicas)
        mix = Mix(mesh, list(authors), list(readers), bystander)
        mix.photos = list(warm.photos)
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        tally = await mix.run(stop, workers * replicas)
    finally:
        await mesh.close()
    total = sum(tally.ok.values())
    return {
        "replicas": replicas,
        "workers": workers * replicas,
        "seconds": round(tally.elapsed, 1),
        "views_per_s": round(tally.ok["view"] / tally.elapsed, 1),
        "ops_per_s": round(total / tally.elapsed, 1),
        "views_per_s_per_replica": round(tally.ok["view"] / tally.elapsed / replicas, 1),
        "errors": sum(tally.failed.values()),
        "ok": dict(tally.ok),
    }


async def run(seconds: float, workers: int) -> dict[str, object]:
    runs = []
    for replicas in (1, 2):
        workdir = Path(tempfile.mkdtemp(prefix=f"shutter-replicas-{replicas}-"))
        result = await measure(replicas, seconds, workers, workdir)
        print(json.dumps(result), flush=True)
        runs.append(result)
        shutil.rmtree(workdir, ignore_errors=True)  # kept when the run fails: its logs say why
    one, two = runs
    return {
        "cores": os.cpu_count() or 1,
        "runs": runs,
        "scaling_1_to_2": round(float(two["views_per_s"]) / float(one["views_per_s"]), 2)  # type: ignore[arg-type]
        if one["views_per_s"]
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=8, help="closed-loop workers per replica")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    options = parser.parse_args()
    figures = asyncio.run(run(options.seconds, options.workers))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {options.out}")


if __name__ == "__main__":
    main()
