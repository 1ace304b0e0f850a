"""The README is what a newcomer runs first: its commands, settings and the output it promises must match
the code (the supervisor's output format, the declared settings, the Makefile's run target)."""

from __future__ import annotations

import re

from services.runtime.config import Settings
from services.runtime.mesh import metrics_url, output_line
from services.runtime.settings import declared_names
from services.runtime.topology import SERVICE_NAMES
from tests.support.mesh import ROOT

README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def _code_lines() -> list[str]:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    return [line for block in blocks for line in block.splitlines()]


def test_the_two_commands_come_first() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.S)
    assert first_block is not None
    assert [line.split()[:2] for line in first_block.group(1).splitlines()] == [["make", "run"], ["make", "test"]]


def test_make_run_installs_grpcurl_and_the_examples_call_it_where_it_lands() -> None:
    run = re.search(r"^run:(.*)$", MAKEFILE, flags=re.M)
    assert run is not None and "$(GOBIN)/grpcurl" in run.group(1)
    assert "GOBIN := $(TOOLS)/bin" in MAKEFILE and "TOOLS := $(CURDIR)/.tools" in MAKEFILE
    calls = [line for line in _code_lines() if "grpcurl" in line]
    assert calls and all(line.lstrip().startswith(".tools/bin/grpcurl ") for line in calls), calls


def test_the_ready_output_is_shown_exactly_as_the_supervisor_prints_it() -> None:
    ready = [line for line in _code_lines() if line.endswith("| ready")]
    assert len(ready) == 1
    clock = ready[0].split()[0]
    assert re.fullmatch(r"\d\d:\d\d:\d\d", clock)
    assert ready[0] == output_line(clock, "mesh", "ready")
    defaults = Settings.from_env({})
    for name in SERVICE_NAMES:
        line = next(line for line in _code_lines() if f"| {name:<8} grpc://" in line)
        address = f"grpc://{defaults.addresses[name]}{metrics_url(name, defaults)}"
        assert line == output_line(clock, "mesh", f"{name:<8} {address}")
    gateway = f"http://127.0.0.1:8080{metrics_url('gateway', defaults)}"
    assert output_line(clock, "mesh", f"{'gateway':<8} {gateway}") in _code_lines()


def test_every_address_and_port_setting_is_documented() -> None:
    for name in SERVICE_NAMES:
        assert f"`SHUTTER_{name.upper()}_PORT`" in README, name
        assert f"`SHUTTER_{name.upper()}_ADDR`" in README, name
    for setting in ("SHUTTER_NATS_PORT", "SHUTTER_NATS_URL", "SHUTTER_GATEWAY_PORT", "SHUTTER_HOST"):
        assert f"`{setting}`" in README, setting


def test_settings_are_listed_once_in_the_generated_table_and_the_readme_names_no_stale_one() -> None:
    """docs/settings.md lists every setting (tests/unit/test_settings.py keeps it current); the README links
    it, and every SHUTTER_* variable the README still names is one some process declares."""
    assert "(docs/settings.md)" in README
    named = {name for name in re.findall(r"\bSHUTTER_[A-Z0-9_]*[A-Z0-9]\b", README)}
    test_harness = {"SHUTTER_SCREENSHOTS"}  # read by tests/support/browser.py, not by a process of the mesh
    assert sorted(named - declared_names() - test_harness) == []
