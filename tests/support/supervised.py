"""`make run`'s supervisor (services.runtime.mesh) as a child process, for the tests that run it for real.

Every process's output is read all along (a full pipe would stall the supervisor and everything behind it)
and kept; when the mesh does not come up, or stops with an error, the failure shows the last lines and,
apart, the last lines of a process the supervisor saw exit (otherwise buried under the others' shutdown).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from services.runtime.topology import METRICS_PORTS, SERVICE_NAMES
from tests.support.mesh import ROOT, free_port

READY = re.compile(r"^\d\d:\d\d:\d\d mesh +\| ready$")
LINE = re.compile(r"^\d\d:\d\d:\d\d (\S+) +\| (.*)$")
EXITED = re.compile(r"^\d\d:\d\d:\d\d mesh +\| (\S+) exited with code")


def run_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a `make run` on free ports with its data under `tmp_path`, plus `settings`."""
    env = {
        **os.environ,
        "SHUTTER_DATA_DIR": str(tmp_path / "data"),
        "SHUTTER_NATS_PORT": str(free_port()),
        "SHUTTER_GATEWAY_PORT": str(free_port()),
        **{f"SHUTTER_{name.upper()}_PORT": str(free_port()) for name in SERVICE_NAMES},
        **{f"SHUTTER_{name.upper()}_METRICS_PORT": str(free_port()) for name in METRICS_PORTS},
        **settings,
    }
    for name in ("SHUTTER_NATS_URL", "SHUTTER_OTLP_ENDPOINT"):  # the supervisor's own, not the session's
        if name not in settings:
            env.pop(name, None)
    return env


def explain(lines: list[str], last: int = 60) -> str:
    """The last lines, then the last lines of each process the supervisor saw exit by itself."""
    report = lines[-last:]
    parsed = [(m.group(1), m.group(0)) for m in map(LINE.match, lines) if m]
    for name in dict.fromkeys(m.group(1) for m in map(EXITED.match, lines) if m):
        own = [line for who, line in parsed if who == name]
        report += ["", f"--- the last lines of {name}, which exited:", *own[-30:]]
    return "\n".join(report)


class Supervised:
    """`with Supervised(env) as mesh:` starts the supervisor; leaving stops whatever is still running."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.runtime.mesh"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY.match(self.lines[-1]):
                self._ready.set()

    def wait_ready(self, timeout: float) -> None:
        assert self._ready.wait(timeout), self.explain()

    def interrupt(self, timeout: float) -> int:
        """Ctrl-C, as a terminal sends it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def parsed(self) -> list[tuple[str, str]]:
        """(who, text) of every line in the supervisor's format."""
        return [(m.group(1), m.group(2)) for m in map(LINE.match, self.lines) if m]

    def explain(self, last: int = 60) -> str:
        return explain(self.lines, last)

    def __enter__(self) -> Supervised:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reader.join(timeout=10)
