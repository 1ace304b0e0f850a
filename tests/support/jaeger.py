"""A real Jaeger (v2, `cmd/jaeger`, built into .tools/bin by `make tools`) for tests and `make run`.

Every listener is on 127.0.0.1 at a port picked free at run time: OTLP/gRPC (what the services send
spans to) and the query service's HTTP and gRPC ports (the UI and `/api/traces`). Storage is in
memory; Jaeger's own tracing and metrics are off (traced, it exports to itself and takes ~20 s to stop).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.runtime.mesh import free_port

ROOT = Path(__file__).resolve().parents[2]
JAEGER_BINARY = ROOT / ".tools" / "bin" / "jaeger"


class JaegerUnavailable(RuntimeError):
    """The binary is missing or did not answer in time."""


def config(otlp_grpc: int, query_http: int, query_grpc: int) -> str:
    """Jaeger v2's configuration (an OpenTelemetry collector's): OTLP in, memory store, query out."""
    document: dict[str, Any] = {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            # No self-telemetry: no metrics listener of its own (it would take :8888), quiet logs.
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
        "extensions": {
            "jaeger_query": {
                "storage": {"traces": "memory"},
                "enable_tracing": False,
                "http": {"endpoint": f"127.0.0.1:{query_http}"},
                "grpc": {"endpoint": f"127.0.0.1:{query_grpc}"},
            },
            "jaeger_storage": {"backends": {"memory": {"memory": {"max_traces": 100_000}}}},
        },
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{otlp_grpc}"}}}},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory"}},
    }
    return json.dumps(document, indent=2)  # JSON is YAML


@dataclass
class Jaeger:
    """One Jaeger process; `start()` returns once its query API answers."""

    workdir: Path
    otlp_grpc_port: int = 0
    query_http_port: int = 0
    query_grpc_port: int = 0
    startup_seconds: float | None = None
    _process: subprocess.Popen[bytes] | None = None

    @property
    def otlp_endpoint(self) -> str:
        """For SHUTTER_OTLP_ENDPOINT (http: plaintext gRPC)."""
        return f"http://127.0.0.1:{self.otlp_grpc_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.query_http_port}"

    def start(self, timeout: float = 30) -> None:
        if not os.access(JAEGER_BINARY, os.X_OK):
            raise JaegerUnavailable(f"{JAEGER_BINARY} is missing: `make tools` builds it")
        self.otlp_grpc_port = self.otlp_grpc_port or free_port()
        self.query_http_port = self.query_http_port or free_port()
        self.query_grpc_port = self.query_grpc_port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "jaeger.yaml"
        path.write_text(config(self.otlp_grpc_port, self.query_http_port, self.query_grpc_port))
        started = time.monotonic()
        with (self.workdir / "jaeger.log").open("ab") as log:
            self._process = subprocess.Popen(
                [str(JAEGER_BINARY), "--config", f"file:{path}"], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise JaegerUnavailable(f"jaeger exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.ui_url}/api/services", timeout=1).status_code == 200:
                    self.startup_seconds = time.monotonic() - started
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise JaegerUnavailable(f"jaeger did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "jaeger.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- the query API ------------------------------------------------------------------------

    async def trace(self, trace_id: str) -> Trace | None:
        """The trace with `trace_id` (32 hex digits) as Jaeger has it now, or None when it has none."""
        async with httpx.AsyncClient(base_url=self.ui_url, timeout=5) as client:
            reply = await client.get(f"/api/traces/{trace_id}")
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        data = reply.json()["data"]
        return Trace(data[0]) if data else None


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str  # "server", "client", "producer", "consumer", "internal"
    tags: dict[str, Any]


class Trace:
    """One trace from Jaeger's query API (`/api/traces/{id}`), as spans with their service names."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.trace_id: str = raw["traceID"]
        services = {key: process["serviceName"] for key, process in raw["processes"].items()}
        self.spans: list[Span] = []
        for span in raw["spans"]:
            tags = {tag["key"]: tag["value"] for tag in span.get("tags", [])}
            parents = [ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"]
            self.spans.append(
                Span(
                    span_id=span["spanID"],
                    parent_id=parents[0] if parents else None,
                    service=services[span["processID"]],
                    name=span["operationName"],
                    kind=str(tags.get("span.kind", "internal")),
                    tags=tags,
                )
            )

    @property
    def services(self) -> set[str]:
        return {span.service for span in self.spans}

    def named(self, service: str, name: str) -> list[Span]:
        return [span for span in self.spans if span.service == service and span.name == name]

    def parent(self, span: Span) -> Span | None:
        return next((s for s in self.spans if s.span_id == span.parent_id), None)

    def roots(self) -> list[Span]:
        ids = {span.span_id for span in self.spans}
        return [span for span in self.spans if span.parent_id not in ids]


def main() -> None:
    """`python -m tests.support.jaeger run`: Jaeger in the foreground for `make run` (SHUTTER_TRACING=1)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--otlp-port", type=int, default=4317)
    parser.add_argument("--query-port", type=int, default=16686)
    parser.add_argument("--query-grpc-port", type=int, default=16685)
    parser.add_argument("--workdir", type=Path, default=Path("var") / "jaeger")
    options = parser.parse_args()
    if not os.access(JAEGER_BINARY, os.X_OK):
        raise SystemExit(f"{JAEGER_BINARY} is missing: `make tools` builds it")
    options.workdir.mkdir(parents=True, exist_ok=True)
    path = options.workdir / "jaeger.yaml"
    path.write_text(config(options.otlp_port, options.query_port, options.query_grpc_port))
    os.execv(JAEGER_BINARY, [str(JAEGER_BINARY), "--config", f"file:{path}"])


if __name__ == "__main__":
    main()
