"""The HTTP gateway's settings (how settings work: services.runtime.settings). It also reads the settings every
process reads (services.runtime.config.Settings): its port, the services' addresses, SHUTTER_MAX_UPLOAD_BYTES."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.runtime.settings import Section, setting

KIB = 1024
# The web client's folder in the repository (and in the image, beside the gateway package).
DEFAULT_WEB_DIR = Path(__file__).resolve().parents[1] / "web"


@dataclass(frozen=True)
class GatewaySettings(Section):
    """The HTTP gateway."""

    PROCESS = "gateway"

    workers: int = setting("SHUTTER_GATEWAY_WORKERS", 1, "uvicorn worker processes", minimum=1)
    max_json_bytes: int = setting("SHUTTER_GATEWAY_MAX_JSON_BYTES", 1024 * KIB, "the largest JSON body", minimum=1)
    upload_chunk_bytes: int = setting(
        "SHUTTER_GATEWAY_UPLOAD_CHUNK_BYTES",
        64 * KIB,
        "the size of each upload chunk sent to the photo service",
        minimum=1,
    )
    upload_timeout_seconds: float = setting(
        "SHUTTER_GATEWAY_UPLOAD_TIMEOUT_SECONDS", 300.0, "the deadline of an upload", minimum=0.001
    )
    download_timeout_seconds: float = setting(
        "SHUTTER_GATEWAY_DOWNLOAD_TIMEOUT_SECONDS", 300.0, "the deadline of a download", minimum=0.001
    )
    events_heartbeat_seconds: float = setting(
        "SHUTTER_GATEWAY_EVENTS_HEARTBEAT_SECONDS",
        15.0,
        "a comment sent on a quiet Server-Sent Events stream this often (keeps proxies from closing it)",
        minimum=0.01,
    )
    max_timeout_seconds: float = setting(
        "SHUTTER_GATEWAY_MAX_TIMEOUT_SECONDS",
        300.0,
        "the most a client's Grpc-Timeout header may ask for",
        minimum=0.001,
    )
    compress_min_bytes: int = setting(
        "SHUTTER_GATEWAY_COMPRESS_MIN_BYTES",
        1400,
        "answers smaller than this go uncompressed: one that fits in one packet arrives no sooner compressed",
        minimum=0,
    )
    cors_origins: tuple[str, ...] = setting(
        "SHUTTER_GATEWAY_CORS_ORIGINS", (), "origins (comma-separated, or `*`) of web clients served elsewhere"
    )
    trusted_proxies: tuple[str, ...] = setting(
        "SHUTTER_GATEWAY_TRUSTED_PROXIES",
        (),
        "networks (CIDRs) of the proxies in front of the gateway whose X-Forwarded-For is believed",
    )
    web_dir: Path = setting(
        "SHUTTER_WEB_DIR", DEFAULT_WEB_DIR, "the web client's folder", shown_default="`web/` beside the gateway package"
    )
