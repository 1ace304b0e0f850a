"""The bench's per-step accounting: calls served from the sampled access log, CPU from /proc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.accounting import LogTail, StepCost, tree_cpu_seconds


def rpc_line(method: str, sample_of: int) -> str:
    return json.dumps({"msg": "rpc", "method": f"/shutter.x.v1.X/{method}", "status": "OK", "sample_of": sample_of})


def test_calls_are_counted_from_sampled_lines_since_the_last_read(tmp_path: Path) -> None:
    log = tmp_path / "view.log"
    log.write_text(rpc_line("ViewPhoto", 50) + "\n")  # before the tail starts: not counted
    tail = LogTail(log)
    with log.open("a") as out:
        out.write(rpc_line("ViewPhoto", 50) + "\n")
        out.write(json.dumps({"msg": "listening"}) + "\n")
        out.write(rpc_line("ViewPhoto", 0) + "\n")  # a failure logged outside the sample
        out.write(rpc_line("BatchGetPhotos", 50) + "\n")
        out.write(rpc_line("ViewPhoto", 50)[:20])  # a line still being written
    assert tail.calls() == {"ViewPhoto": 50, "BatchGetPhotos": 50}
    with log.open("a") as out:
        out.write(rpc_line("ViewPhoto", 50)[20:] + "\n")
    assert tail.calls() == {"ViewPhoto": 50}
    assert tail.calls() == {}


def test_operations_count_client_sides_made_inside_the_mesh() -> None:
    cost = StepCost(
        wall_seconds=2.0,
        cpu_seconds={"view": 1.0, "photo": 0.5},
        calls={"view": {"ViewPhoto": 1000}, "photo": {"BatchGetPhotos": 100}},
    )
    # From the load generator: 1000 served by view + 100 batch calls × (client + server).
    assert cost.operations_per_request(1000, "view", entry_from_mesh=False) == 1.2
    # From the gateway: the call into view has its client side in the mesh too.
    assert cost.operations_per_request(1000, "view", entry_from_mesh=True) == 2.2
    assert cost.per_thousand(1000) == {"view": 1.0, "photo": 0.5}
    assert cost.utilisation() == {"view": 0.5, "photo": 0.25}


def test_cpu_of_a_process_tree_includes_its_children() -> None:
    busy = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    spawn = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {busy!r}])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", spawn], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 20
        while tree_cpu_seconds(parent.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The child burned 0.4 s; the parent alone only what starting Python costs.
        assert tree_cpu_seconds(parent.pid) >= 0.4
        assert tree_cpu_seconds(parent.pid) - tree_cpu_seconds(child) < 0.3
    finally:
        os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()
