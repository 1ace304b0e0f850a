"""The photo service's settings (how settings work: services.runtime.settings)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import Section, setting

MIB = 1024 * 1024
# Pillow's own default: about 89 megapixels, enough for any camera sensor in use.
DEFAULT_MAX_PIXELS = 89_478_485


@dataclass(frozen=True)
class PhotoSettings(Section):
    """The photo service."""

    PROCESS = "photo"

    image_workers: int = setting("SHUTTER_PHOTO_IMAGE_WORKERS", 2, "processes decoding and resizing uploads", minimum=1)
    image_worker_nice: int = setting(
        "SHUTTER_PHOTO_IMAGE_WORKER_NICE",
        10,
        "how much lower than the services the image workers run (an upload waits; a view should not)",
        minimum=0,
        maximum=19,
    )
    max_pixels: int = setting(
        "SHUTTER_PHOTO_MAX_PIXELS", DEFAULT_MAX_PIXELS, "the largest image accepted, in pixels", minimum=1
    )
    sweep_seconds: float = setting(
        "SHUTTER_PHOTO_SWEEP_SECONDS", 300.0, "how often a shared blob store (s3, cql) is swept of orphans", minimum=1
    )
    media_expiry_seconds: float = setting(
        "SHUTTER_PHOTO_MEDIA_EXPIRY_SECONDS", 86_400.0, "how long an uploaded medium waits for a post", minimum=1
    )
    media_sweep_seconds: float = setting(
        "SHUTTER_PHOTO_MEDIA_SWEEP_SECONDS", 600.0, "how often media no post took are looked for", minimum=0.1
    )


@dataclass(frozen=True)
class S3Settings(Section):
    """The photo service's object store, with SHUTTER_BLOB_STORE=s3 (credentials come from a Secret)."""

    PROCESS = "photo"

    endpoint: str = setting("SHUTTER_S3_ENDPOINT", "", "the S3 API's URL (required with s3; `make run` sets it)")
    bucket: str = setting("SHUTTER_S3_BUCKET", "shutter-photos", "the bucket photo bytes go in")
    access_key: str = setting("SHUTTER_S3_ACCESS_KEY", "", "the access key id", secret=True)
    secret_key: str = setting("SHUTTER_S3_SECRET_KEY", "", "the secret access key", secret=True)
    region: str = setting("SHUTTER_S3_REGION", "us-east-1", "the region requests are signed for")
    public_endpoint: str = setting(
        "SHUTTER_S3_PUBLIC_ENDPOINT", "", "the URL clients reach for presigned downloads (an ingress or CDN)"
    )
    prefix: str = setting("SHUTTER_S3_PREFIX", "photos/", "the key prefix of every object")
    presign_seconds: int = setting("SHUTTER_S3_PRESIGN_SECONDS", 300, "how long a download URL is valid", minimum=1)
    multipart_bytes: int = setting(
        "SHUTTER_S3_MULTIPART_BYTES", 8 * MIB, "originals above this go up in parts", minimum=5 * MIB
    )
    part_bytes: int = setting(
        "SHUTTER_S3_PART_BYTES", 8 * MIB, "the size of each part (S3's least: 5 MiB)", minimum=5 * MIB
    )
