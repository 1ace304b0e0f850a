"""`SHUTTER_REPLICAS=2 make run`: the supervisor starts two replicas of every service, prints one line per
replica with its own address and id shard, the gateway reaches them, and Ctrl-C stops it all cleanly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from services.runtime.topology import SERVICE_NAMES, SHARD_BLOCKS
from services.user.settings import TEST_PROFILE
from tests.support.mesh import AUTH_SECRET, free_port
from tests.support.supervised import Supervised, run_env
from tests.support.users import DEFAULT_PASSWORD

pytestmark = pytest.mark.slow

REPLICA_LINE = re.compile(r"^\d\d:\d\d:\d\d mesh +\| (\S+) +grpc://(\S+)  shard (\d+)")


def test_two_replicas_of_every_service_start_answer_and_stop(tmp_path: Path) -> None:
    gateway_port = free_port()
    env = run_env(
        tmp_path,
        SHUTTER_REPLICAS="2",
        SHUTTER_AUTH_SECRET=AUTH_SECRET,
        SHUTTER_GATEWAY_PORT=str(gateway_port),
        SHUTTER_PASSWORD_HASH_PROFILE=TEST_PROFILE,
        SHUTTER_METRICS="0",
    )
    with Supervised(env) as mesh:
        mesh.wait_ready(180)
        lines = mesh.lines
        announced = {m.group(1): (m.group(2), int(m.group(3))) for m in map(REPLICA_LINE.match, lines) if m}
        assert set(announced) == {n for s in SERVICE_NAMES for n in (s, f"{s}-2")}, announced
        assert len({address for address, _ in announced.values()}) == 2 * len(SERVICE_NAMES)
        for name in SERVICE_NAMES:
            first = SHARD_BLOCKS[name][0]
            assert (announced[name][1], announced[f"{name}-2"][1]) == (first, first + 1), name
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=30) as http:
            for number in range(4):  # spread over both user replicas by the gateway's round_robin
                made = http.post(
                    "/v1/users",
                    json={
                        "username": f"rep_{number}_{os.getpid()}",
                        "password": DEFAULT_PASSWORD,
                        "displayName": "Rep",
                    },
                )
                assert made.status_code == 200, made.text
        code = mesh.interrupt(90)
    assert code == 0, mesh.explain()
    errors = [line for line in lines if '"level": "error"' in line]
    assert errors == [], errors[:5]
    # Both user replicas served sign-ups: the gateway balanced over them.
    created = '"method": "/shutter.user.v1.UserService/CreateUser"'
    served = {line.split()[1] for line in lines if created in line}
    assert served == {"user", "user-2"}, served
