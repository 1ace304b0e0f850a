"""Settings from environment variables, with defaults that run the whole mesh on one machine."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.topology import DEFAULT_PORTS, GATEWAY_PORT, NATS_PORT


def env_str(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    value = environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int, environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float, environ: Mapping[str, str] = os.environ) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to find its peers, its data and its secrets."""

    data_dir: Path
    host: str
    ports: dict[str, int]
    addresses: dict[str, str]
    gateway_port: int
    nats_url: str
    nats_stream_replicas: int
    auth_secret: str
    token_ttl_seconds: int
    shutdown_grace_seconds: float
    default_deadline_seconds: float
    store: str
    cql_contact_points: tuple[str, ...]
    cql_port: int
    cql_keyspace: str
    cql_replication: str
    shard_id: int | None
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        host = env_str("SHUTTER_HOST", "127.0.0.1", environ)
        ports = {name: env_int(f"SHUTTER_{name.upper()}_PORT", port, environ) for name, port in DEFAULT_PORTS.items()}
        addresses = {
            name: env_str(f"SHUTTER_{name.upper()}_ADDR", f"{host}:{port}", environ) for name, port in ports.items()
        }
        data_dir = Path(env_str("SHUTTER_DATA_DIR", "var", environ)).resolve()
        nats_port = env_int("SHUTTER_NATS_PORT", NATS_PORT, environ)
        shard = environ.get("SHUTTER_SHARD_ID", "").strip()
        return cls(
            data_dir=data_dir,
            host=host,
            ports=ports,
            addresses=addresses,
            gateway_port=env_int("SHUTTER_GATEWAY_PORT", GATEWAY_PORT, environ),
            nats_url=env_str("SHUTTER_NATS_URL", f"nats://127.0.0.1:{nats_port}", environ),
            nats_stream_replicas=env_int("SHUTTER_NATS_STREAM_REPLICAS", 1, environ),
            auth_secret=environ.get("SHUTTER_AUTH_SECRET", ""),
            token_ttl_seconds=env_int("SHUTTER_TOKEN_TTL_SECONDS", 3600, environ),
            shutdown_grace_seconds=env_float("SHUTTER_SHUTDOWN_GRACE_SECONDS", 5.0, environ),
            default_deadline_seconds=env_float("SHUTTER_DEFAULT_DEADLINE_SECONDS", 5.0, environ),
            store=env_str("SHUTTER_STORE", "sqlite", environ),
            cql_contact_points=tuple(
                p.strip() for p in env_str("SHUTTER_CQL_CONTACT_POINTS", "127.0.0.1", environ).split(",") if p.strip()
            ),
            cql_port=env_int("SHUTTER_CQL_PORT", 9042, environ),
            cql_keyspace=env_str("SHUTTER_CQL_KEYSPACE", "shutter", environ),
            cql_replication=env_str(
                "SHUTTER_CQL_REPLICATION", "{'class': 'SimpleStrategy', 'replication_factor': 1}", environ
            ),
            shard_id=int(shard) if shard else None,
            extra={k: v for k, v in environ.items() if k.startswith("SHUTTER_")},
        )

    def signing_secret(self) -> str:
        """The token signing key: SHUTTER_AUTH_SECRET, or one shared through the data directory.

        Only processes that verify or sign tokens ask for it; the gateway only forwards them and
        neither holds nor needs the key.
        """
        return self.auth_secret or _local_secret(self.data_dir)

    @property
    def blob_store(self) -> str:
        """Where photo bytes go (SHUTTER_BLOB_STORE): `files`, `s3` (the default on CQL) or `cql`."""
        return self.str_setting("SHUTTER_BLOB_STORE", "s3" if self.store == "cql" else "files")

    def int_setting(self, name: str, default: int) -> int:
        """A service-specific integer setting, e.g. SHUTTER_MAX_UPLOAD_BYTES."""
        return env_int(name, default, self.extra)

    def float_setting(self, name: str, default: float) -> float:
        return env_float(name, default, self.extra)

    def str_setting(self, name: str, default: str) -> str:
        return env_str(name, default, self.extra)


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
