"""The settings every process reads, and those of `make run`'s supervisor, with defaults that run the whole
mesh on one machine. How settings are declared and checked: services.runtime.settings."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.runtime.loop import EVENT_LOOPS
from services.runtime.settings import PREFIX, Declared, Section, setting
from services.runtime.topology import DEFAULT_PORTS, GATEWAY_PORT, METRICS_PORTS, NATS_PORT

if TYPE_CHECKING:
    from services.runtime.batching import Pacing

STORE_BACKENDS = ("sqlite", "cql")
BLOB_STORES = ("files", "s3", "cql")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIB = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 20 * MIB
DEFAULT_DATA_DIR = Path("var")
DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4317"


def port_setting(name: str) -> Declared:
    return Declared(f"SHUTTER_{name.upper()}_PORT", DEFAULT_PORTS[name], f"the port {name} listens on", int, 0, 65535)


def address_setting(name: str) -> Declared:
    return Declared(
        f"SHUTTER_{name.upper()}_ADDR",
        "",
        f"where the other processes reach {name} (host:port; a Kubernetes Service name, say)",
        shown_default=f"`<SHUTTER_HOST>:<SHUTTER_{name.upper()}_PORT>`",
    )


@dataclass(frozen=True)
class Settings(Section):
    """Every process: where it and its peers listen, its data, NATS, tokens, deadlines and the store."""

    PROCESS = "every process"

    host: str = setting("SHUTTER_HOST", "127.0.0.1", "the address every process listens on")
    data_dir: Path = setting(
        "SHUTTER_DATA_DIR",
        DEFAULT_DATA_DIR,
        "each service's SQLite database, photo bytes on `files`, JetStream files, deleted-accounts snapshots",
    )
    gateway_port: int = setting("SHUTTER_GATEWAY_PORT", GATEWAY_PORT, "the HTTP gateway's port", minimum=0)
    nats_port: int = setting("SHUTTER_NATS_PORT", NATS_PORT, "where `make run` starts nats-server", minimum=0)
    nats_url: str = setting(
        "SHUTTER_NATS_URL",
        "",
        "where the processes find NATS (a cluster: its nodes' URLs, comma-separated)",
        shown_default="`nats://127.0.0.1:<SHUTTER_NATS_PORT>`",
    )
    nats_stream_replicas: int = setting(
        "SHUTTER_NATS_STREAM_REPLICAS", 1, "replicas of the event streams (3 on a NATS cluster)", minimum=1, maximum=5
    )
    auth_secret: str = setting(
        "SHUTTER_AUTH_SECRET",
        "",
        "the token signing key, ≥ 32 characters (`make run` makes one; none: one kept in SHUTTER_DATA_DIR)",
        secret=True,
    )
    token_ttl_seconds: int = setting("SHUTTER_TOKEN_TTL_SECONDS", 3600, "how long a user token is valid", minimum=1)
    shutdown_grace_seconds: float = setting(
        "SHUTTER_SHUTDOWN_GRACE_SECONDS", 5.0, "how long a stopping process lets in-flight calls finish", minimum=0
    )
    default_deadline_seconds: float = setting(
        "SHUTTER_DEFAULT_DEADLINE_SECONDS", 5.0, "the deadline of a call whose caller set none", minimum=0.001
    )
    store: str = setting("SHUTTER_STORE", "sqlite", "where services keep their data", choices=STORE_BACKENDS)
    blob_store: str = setting(
        "SHUTTER_BLOB_STORE",
        "",
        "where photo bytes go (`cql` only with SHUTTER_STORE=cql)",
        choices=BLOB_STORES,
        shown_default="`s3` with SHUTTER_STORE=cql, else `files`",
    )
    max_upload_bytes: int = setting(
        "SHUTTER_MAX_UPLOAD_BYTES",
        DEFAULT_MAX_UPLOAD_BYTES,
        "the largest photo upload (the gateway answers 413 beyond)",
        minimum=1,
    )
    cql_contact_points: tuple[str, ...] = setting(
        "SHUTTER_CQL_CONTACT_POINTS", ("127.0.0.1",), "the CQL cluster's contact points"
    )
    cql_port: int = setting("SHUTTER_CQL_PORT", 9042, "the CQL native port", minimum=1, maximum=65535)
    cql_keyspace: str = setting("SHUTTER_CQL_KEYSPACE", "shutter", "keyspace prefix: each service keeps `<it>_<name>`")
    cql_replication: str = setting(
        "SHUTTER_CQL_REPLICATION",
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        "the replication of keyspaces created at start",
    )
    cql_local_dc: str = setting("SHUTTER_CQL_LOCAL_DC", "", "the CQL data centre to prefer (none: the driver's)")
    shard_id: int | None = setting(
        "SHUTTER_SHARD_ID",
        None,
        "the shard in the ids this process makes (the chart sets one per replica)",
        minimum=0,
        maximum=8191,
        shown_default="the first of the service's block in topology.py",
    )
    shard_base: int | None = setting(
        "SHUTTER_SHARD_BASE",
        None,
        "set by the chart: the pod's start command adds its ordinal to make SHUTTER_SHARD_ID",
        minimum=0,
        maximum=8191,
    )
    log_level: str = setting("SHUTTER_LOG_LEVEL", "INFO", "the lowest level logged", choices=LOG_LEVELS)
    event_loop: str = setting(
        "SHUTTER_EVENT_LOOP", "uvloop", "the asyncio event loop each service process runs on", choices=EVENT_LOOPS
    )
    rpc_log_every: int = setting(
        "SHUTTER_RPC_LOG_EVERY",
        1,
        "access-log lines: one per RPC (1), or one per N calls of each method, each saying `sample_of: N` "
        "(failures always logged; the gateway samples its per-request log the same way)",
        minimum=1,
    )
    consumer_ack_wait_seconds: float = setting(
        "SHUTTER_CONSUMER_ACK_WAIT_SECONDS",
        5.0,
        "how long an event held by a process that died waits before it is redelivered",
        minimum=0.1,
    )
    live_watchers_per_user: int = setting(
        "SHUTTER_LIVE_WATCHERS_PER_USER",
        5,
        "live streams (WatchNotifications, WatchFeed) one user may hold on one replica; more are RESOURCE_EXHAUSTED",
        minimum=1,
    )
    live_queue_size: int = setting(
        "SHUTTER_LIVE_QUEUE_SIZE",
        64,
        "updates queued for one slow live stream before they are dropped for a resync marker",
        minimum=1,
    )
    ports: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    # The SHUTTER_* variables this was read from: the process's other sections read the same ones.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def extra_declared(cls) -> list[Declared]:
        return [d for name in DEFAULT_PORTS for d in (port_setting(name), address_setting(name))]

    @classmethod
    def resolve(cls, values: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
        host = values["host"]
        ports = {name: port_setting(name).parse(environ.get(port_setting(name).env, "")) for name in DEFAULT_PORTS}
        addresses = {
            name: address_setting(name).parse(environ.get(f"SHUTTER_{name.upper()}_ADDR", "")) or f"{host}:{port}"
            for name, port in ports.items()
        }
        if values["blob_store"] == "cql" and values["store"] != "cql":
            raise SystemExit("SHUTTER_BLOB_STORE=cql needs SHUTTER_STORE=cql")
        return {
            **values,
            "data_dir": values["data_dir"].resolve(),
            "nats_url": values["nats_url"] or f"nats://127.0.0.1:{values['nats_port']}",
            "blob_store": values["blob_store"] or ("s3" if values["store"] == "cql" else "files"),
            "ports": ports,
            "addresses": addresses,
            "environ": {name: value for name, value in environ.items() if name.startswith(PREFIX)},
        }

    def signing_secret(self) -> str:
        """The token signing key: SHUTTER_AUTH_SECRET, or one shared through the data directory.

        Only processes that verify or sign tokens ask for it; the gateway only forwards them and
        neither holds nor needs the key.
        """
        return self.auth_secret or _local_secret(self.data_dir)


def metrics_port_setting(name: str) -> Declared:
    return Declared(
        f"SHUTTER_{name.upper()}_METRICS_PORT",
        METRICS_PORTS[name],
        f"the port {name} serves Prometheus `/metrics` on (0: any free port, logged)",
        int,
        0,
        65535,
    )


@dataclass(frozen=True)
class TelemetrySettings(Section):
    """Every process: its metrics endpoint, traces and channelz (docs/telemetry.md)."""

    PROCESS = "every process"

    metrics: bool = setting("SHUTTER_METRICS", True, "serve `/metrics` and observe (0: neither, the bench's baseline)")
    tracing: bool = setting("SHUTTER_TRACING", False, "trace requests and events, spans exported over OTLP/gRPC")
    otlp_endpoint: str = setting(
        "SHUTTER_OTLP_ENDPOINT",
        "",
        "where spans go (Jaeger, an OpenTelemetry collector); `http://` is plaintext, `https://` TLS",
        shown_default=f"`{DEFAULT_OTLP_ENDPOINT}` (`make run`: a local Jaeger it starts)",
    )
    trace_sample_ratio: float = setting(
        "SHUTTER_TRACE_SAMPLE_RATIO",
        1.0,
        "share of the traces started here that are kept (a request with a `traceparent` keeps its caller's choice)",
        minimum=0,
        maximum=1,
    )
    channelz: bool = setting("SHUTTER_CHANNELZ", False, "gRPC channelz (`grpc.channelz.v1`) on every server")
    metrics_ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def extra_declared(cls) -> list[Declared]:
        return [metrics_port_setting(name) for name in METRICS_PORTS]

    @classmethod
    def resolve(cls, values: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
        ports = {name: metrics_port_setting(name) for name in METRICS_PORTS}
        return {**values, "metrics_ports": {name: d.parse(environ.get(d.env, "")) for name, d in ports.items()}}

    @property
    def collector(self) -> str:
        """Where spans go. SHUTTER_OTLP_ENDPOINT is left blank by default so `make run` can tell that none was
        given, and start a local Jaeger there."""
        return self.otlp_endpoint or DEFAULT_OTLP_ENDPOINT


@dataclass(frozen=True)
class MeshSettings(Section):
    """`make run`'s supervisor (services.runtime.mesh): what it starts beside the mesh."""

    PROCESS = "make run"

    replicas: int = setting(
        "SHUTTER_REPLICAS",
        1,
        "processes of every service, each on its own port and id shard; callers balance over them (round_robin)",
        minimum=1,
        maximum=64,
    )
    cql_local_node: bool = setting(
        "SHUTTER_CQL_LOCAL_NODE", True, "with SHUTTER_STORE=cql, start a local Cassandra node (0: use your cluster)"
    )
    s3_port: int = setting("SHUTTER_S3_PORT", 8333, "the local SeaweedFS's S3 port", minimum=1, maximum=65535)
    s3_local_server: bool = setting(
        "SHUTTER_S3_LOCAL_SERVER", True, "with SHUTTER_BLOB_STORE=s3, start a local SeaweedFS (0: use your store)"
    )
    jaeger_otlp_port: int = setting(
        "SHUTTER_JAEGER_OTLP_PORT",
        4317,
        "with SHUTTER_TRACING=1 and no SHUTTER_OTLP_ENDPOINT, the local Jaeger's OTLP/gRPC port",
        minimum=1,
        maximum=65535,
    )
    jaeger_ui_port: int = setting(
        "SHUTTER_JAEGER_UI_PORT",
        16686,
        "with SHUTTER_TRACING=1 and no SHUTTER_OTLP_ENDPOINT, the local Jaeger's UI port",
        minimum=1,
        maximum=65535,
    )


def _local_secret(data_dir: Path) -> str:
    """A signing secret shared through the data directory when none is configured.

    Lets `python -m services.<name>` work alone on a laptop; deployments set SHUTTER_AUTH_SECRET.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "auth-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
        handle.flush()
        os.fsync(handle.fileno())
    return path.read_text().strip()


@dataclass(frozen=True)
class BatchingSettings(Section):
    """Every service: how a busy batch loader paces its calls (services.runtime.batching)."""

    PROCESS = "every service"

    pace_busy_rate: float = setting(
        "SHUTTER_BATCH_PACE_BUSY_RATE",
        500.0,
        "asks a second at which a batch loader counts as busy and paces its batches (0: never)",
        minimum=0,
    )
    pace_seconds: float = setting(
        "SHUTTER_BATCH_PACE_SECONDS",
        0.010,
        "a busy loader's pause between batches: the most a caller waits for it (batch calls per kind ≤ 1 / this)",
        minimum=0,
        maximum=0.1,
    )

    @property
    def pacing(self) -> Pacing:
        from services.runtime.batching import Pacing

        return Pacing(busy_rate=self.pace_busy_rate, pause=self.pace_seconds)


@dataclass(frozen=True)
class LimitSettings(Section):
    """Every service: abuse limits (services.runtime.limits). Each rate is `<count>/<seconds>`, or 0 for none."""

    PROCESS = "every service"

    enabled: bool = setting("SHUTTER_LIMITS_ENABLED", True, "apply the rate limits (0: count nothing, refuse nothing)")
    timeout_seconds: float = setting(
        "SHUTTER_LIMITS_TIMEOUT_SECONDS",
        0.5,
        "how long a call waits for the counters (NATS) before the limit fails open (closed for sign-in and sign-up)",
        minimum=0.001,
    )
    lease_max: int = setting(
        "SHUTTER_LIMITS_LEASE_MAX",
        128,
        "the most calls a process counts at once against a shared limit (1: a round trip to NATS every call)",
        minimum=1,
    )
    trusted_peers: tuple[str, ...] = setting(
        "SHUTTER_LIMITS_TRUSTED_PEERS",
        ("127.0.0.0/8", "::1/128"),
        "networks (CIDRs) of the gateways, whose client-address metadata is believed (else: the peer's address)",
    )
    rates: dict[tuple[str, str], Any] = field(default_factory=dict)

    @classmethod
    def extra_declared(cls) -> list[Declared]:
        from services.runtime.limits import RULES, rate_env

        return [
            Declared(rate_env(rule.name, scope), default, f"{rule.doc} per {scope}")
            for rule in RULES.values()
            for scope, default in (("account", rule.account), ("address", rule.address))
            if default is not None
        ]

    @classmethod
    def resolve(cls, values: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
        from services.runtime.limits import RULES, Rate, parse_networks, rate_env

        rates: dict[tuple[str, str], Rate] = {}
        problems = []
        for rule in RULES.values():
            for scope, default in (("account", rule.account), ("address", rule.address)):
                if default is None:
                    continue
                raw = environ.get(rate_env(rule.name, scope), "").strip() or default
                try:
                    rates[(rule.name, scope)] = Rate.parse(raw)
                except ValueError:
                    problems.append(f"{rate_env(rule.name, scope)} must be <count>/<seconds> or 0, got {raw!r}")
        try:
            parse_networks(values["trusted_peers"])
        except ValueError:
            problems.append(f"SHUTTER_LIMITS_TRUSTED_PEERS must be CIDRs, got {values['trusted_peers']!r}")
        if problems:
            raise SystemExit("\n".join(problems))
        return {**values, "rates": rates}
