"""topology.CALL_GRAPH is what the code really calls: the Helm NetworkPolicies are built from it,
so a call missing from it would be blocked in a cluster and an extra entry would allow too much."""

import re
from pathlib import Path

import pytest

from services.runtime.topology import CALL_GRAPH, SERVICE_NAMES

ROOT = Path(__file__).resolve().parents[2]
STUB_CALL = re.compile(r"channels\.stub\(\s*\"(\w+)\"")


def targets_in_code(service: str) -> set[str]:
    sources = (ROOT / "services" / service).rglob("*.py")
    return {target for path in sources for target in STUB_CALL.findall(path.read_text())}


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_declared_calls_match_the_stubs_each_service_creates(service: str) -> None:
    assert targets_in_code(service) == set(CALL_GRAPH[service])


def test_the_gateway_reaches_every_service() -> None:
    assert CALL_GRAPH["gateway"] == frozenset(SERVICE_NAMES)
