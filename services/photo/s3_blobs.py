"""Photo bytes in an object store over the S3 API (SeaweedFS here and in tests, any S3 in a cloud).

The design's load (1,000 photos/s, ~28 TB a day before replication) belongs in an object store, not in
database rows: Haystack-style volumes (SeaweedFS) or S3 keep bytes cheap, replicate or erasure-code
them, and can hand them to clients or a CDN without passing through Python (presigned URLs).

Client: aiobotocore (pinned). It speaks the whole S3 API we rely on — ChecksumSHA256 echoed by PUT and
UploadPart, HEAD with user metadata, multipart uploads we can list and abort, DeleteObjects, presigning —
on asyncio, and it is botocore underneath, the reference implementation every S3 server is tested
against. obstore is faster per request, but it does not expose the checksum echo, user metadata on HEAD,
or listing and aborting multipart uploads, and each of those carries one of the promises below.

Promises, the same as the other stores:
- Durable and checksummed before the row commits: `put` sends x-amz-checksum-sha256, so the server
  refuses bytes that arrive different; it checks the checksum the server echoes, or, where a server
  echoes none, a HEAD after the PUT (size and the recorded SHA-256). Only then is the source removed.
- DATA_LOSS on a mismatch on read: the whole-object SHA-256 is recorded as user metadata (x-amz-meta-
  sha256); `read` hashes as it streams and holds back the last chunk until the hash matches, so a
  corrupt object never arrives complete (the download ends in DATA_LOSS, short of its length).
- Nothing half-visible: a PUT is atomic, a multipart upload appears only on Complete and is aborted
  on any failure; one left by a crash is aborted by the sweep once older than SWEEP_MIN_AGE_MS.
- Orphans swept without listing the bucket: objects live under the minute their photo id was made
  (`<prefix>YYYY/MM/DD/HH/MM/<photo_id>.<variant>`, the id is time-ordered), so the sweep lists each
  settled minute once (one LIST per 1,000 objects) and moves a cursor object on. A delete that dies
  half-way is found through a marker `expect_deletion` writes under `<prefix>_deleting/`.
- The store down is UNAVAILABLE (retry, same idempotency key), never a half-stored photo.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from services.photo.blobs import READ_CHUNK_BYTES, SWEEP_BATCH, SWEEP_MIN_AGE_MS, BlobCorrupt, BlobMissing
from services.photo.settings import S3Settings
from services.runtime.errors import Unavailable
from services.runtime.ids import id_timestamp_ms

log = logging.getLogger("shutter.photo.s3_blobs")

# Photos never change: browsers may keep them for a year; shared caches only what is signed for them.
CACHE_CONTROL = "private, max-age=31536000, immutable"
MINUTE_MS = 60_000
_HASH_CHUNK_BYTES = 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
# Worth a retry: the store is overloaded, or the bytes arrived other than sent (its checksum refused them).
_TRANSIENT = {"SlowDown", "ServiceUnavailable", "RequestTimeout", "BadDigest", "XAmzContentChecksumMismatch"}


@dataclass(frozen=True)
class S3Config:
    """Where the bucket is and how to talk to it (SHUTTER_S3_*; credentials come from a Secret)."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    # The endpoint clients reach for presigned URLs (an ingress or CDN in front of the store).
    public_endpoint: str = ""
    prefix: str = "photos/"
    presign_seconds: int = 300
    # Originals above this go up in parts (S3's minimum part is 5 MiB).
    multipart_threshold: int = 8 * 1024 * 1024
    part_bytes: int = 8 * 1024 * 1024
    max_connections: int = 32
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: S3Settings) -> S3Config:
        if not settings.endpoint:
            raise SystemExit("SHUTTER_BLOB_STORE=s3 needs SHUTTER_S3_ENDPOINT (and the bucket and keys)")
        return cls(
            endpoint=settings.endpoint,
            bucket=settings.bucket,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            region=settings.region,
            public_endpoint=settings.public_endpoint,
            prefix=settings.prefix,
            presign_seconds=settings.presign_seconds,
            multipart_threshold=settings.multipart_bytes,
            part_bytes=settings.part_bytes,
        )


def split_key(key: str) -> tuple[int, str]:
    """(photo_id, variant) of a `<photo_id>.<variant>` key; ValueError for anything else."""
    head, _, variant = key.partition(".")
    if not head.isdigit() or not variant or "/" in variant:
        raise ValueError(f"bad blob key {key!r}")
    return int(head), variant


def minute_of(photo_id: int) -> int:
    """Unix minutes at which the photo's id was made."""
    return id_timestamp_ms(photo_id) // MINUTE_MS


def minute_path(minute: int) -> str:
    return time.strftime("%Y/%m/%d/%H/%M/", time.gmtime(minute * 60))


class S3BlobStore:
    """BlobStore on one bucket, shared by every replica of the photo service."""

    def __init__(self, config: S3Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._exits = contextlib.AsyncExitStack()
        self._s3: Any = None
        self._signer: Any = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, make the bucket if it is missing (local set-ups; a deployment makes its own) and start
        the sweep cursor at this minute (nothing older was written through it). Waits for the store the
        way the CQL database waits for its cluster: health stays NOT_SERVING until it answers."""
        await self.open()
        delay = 0.5
        while True:
            try:
                await self._prepare_bucket()
                return
            except Unavailable as exc:
                log.warning(
                    "waiting for the object store", extra={"endpoint": self.config.endpoint, "error": str(exc)[:200]}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def open(self) -> None:
        """The S3 clients, without touching the network (start() also waits for the store)."""
        if self._s3 is not None:
            return
        session = get_session()
        common = {
            "region_name": self.config.region,
            "aws_access_key_id": self.config.access_key,
            "aws_secret_access_key": self.config.secret_key,
        }
        config = AioConfig(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            # One retry: a client retrying with its idempotency key beats a long wait inside one upload.
            retries={"mode": "standard", "total_max_attempts": 2},
            connect_timeout=self.config.timeout_seconds,
            read_timeout=self.config.timeout_seconds,
            max_pool_connections=self.config.max_connections,
            # We send SHA-256 ourselves and check it on read; no CRC32 on every request on top.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._s3 = await self._exits.enter_async_context(
            session.create_client("s3", endpoint_url=self.config.endpoint, config=config, **common)
        )
        self._signer = await self._exits.enter_async_context(
            session.create_client(
                "s3", endpoint_url=self.config.public_endpoint or self.config.endpoint, config=config, **common
            )
        )

    async def _prepare_bucket(self) -> None:
        async with self._faults("opening the bucket"):
            try:
                await self._s3.head_bucket(Bucket=self.config.bucket)
            except ClientError as exc:
                if _code(exc) not in _NOT_FOUND:
                    raise
                with contextlib.suppress(ClientError):  # another replica made it first
                    await self._s3.create_bucket(Bucket=self.config.bucket)
            if await self._read_cursor() is None:
                await self._write_cursor(int(self._clock() * 1000) // MINUTE_MS - 1)

    async def stop(self) -> None:
        await self._exits.aclose()

    @property
    def client(self) -> Any:
        """The S3 client (aiobotocore), for tests and benchmarks that look under the store."""
        return self._s3

    # -- names --------------------------------------------------------------------------------

    def object_name(self, key: str) -> str:
        photo_id, variant = split_key(key)
        return f"{self.config.prefix}{minute_path(minute_of(photo_id))}{photo_id}.{variant}"

    def _marker(self, key: str) -> str:
        split_key(key)
        return f"{self.config.prefix}_deleting/{key}"

    @property
    def _cursor_name(self) -> str:
        return f"{self.config.prefix}_sweep/cursor"

    @contextlib.asynccontextmanager
    async def _faults(self, doing: str) -> AsyncIterator[None]:
        """The store unreachable or failing (connection refused, timeouts, 5xx) is UNAVAILABLE."""
        try:
            yield
        except BotoCoreError as exc:
            raise Unavailable(f"object store unavailable while {doing}: {exc}") from exc
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500 or _code(exc) in _TRANSIENT:
                raise Unavailable(f"object store unavailable while {doing}: {_code(exc)}") from exc
            raise

    # -- BlobStore ----------------------------------------------------------------------------

    async def put(self, key: str, source: Path) -> None:
        name = self.object_name(key)
        sha256, size = await asyncio.to_thread(_file_digest, source)
        async with self._faults(f"storing {key}"):
            if size > self.config.multipart_threshold:
                await self._put_parts(name, source, sha256)
                confirmed = False  # a multipart checksum is one of checksums: HEAD for the whole
            else:
                data = await asyncio.to_thread(source.read_bytes)
                sent = _b64(hashlib.sha256(data).digest())
                reply = await self._s3.put_object(
                    Bucket=self.config.bucket,
                    Key=name,
                    Body=data,
                    ChecksumSHA256=sent,
                    Metadata={"sha256": sha256},
                    CacheControl=CACHE_CONTROL,
                )
                echoed = reply.get("ChecksumSHA256")
                if echoed is not None and echoed != sent:
                    raise Unavailable(f"the object store stored other bytes for {key}; retry")
                confirmed = echoed == sent
            if not confirmed:  # a server that echoes no checksum: read back what it has
                await self._confirm(key, name, sha256, size)
        await asyncio.to_thread(source.unlink)

    async def _put_parts(self, name: str, source: Path, sha256: str) -> None:
        """A multipart upload, each part checksummed; aborted on any failure, so nothing is left half-made."""
        created = await self._s3.create_multipart_upload(
            Bucket=self.config.bucket,
            Key=name,
            Metadata={"sha256": sha256},
            CacheControl=CACHE_CONTROL,
            ChecksumAlgorithm="SHA256",
        )
        upload_id = created["UploadId"]
        try:
            parts = []
            number = 1
            handle = await asyncio.to_thread(open, source, "rb")
            with handle:
                while data := await asyncio.to_thread(handle.read, self.config.part_bytes):
                    sent = _b64(hashlib.sha256(data).digest())
                    reply = await self._s3.upload_part(
                        Bucket=self.config.bucket,
                        Key=name,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ChecksumSHA256=sent,
                    )
                    echoed = reply.get("ChecksumSHA256")
                    if echoed is not None and echoed != sent:
                        raise Unavailable(f"the object store stored other bytes for part {number} of {name}")
                    parts.append({"PartNumber": number, "ETag": reply["ETag"], "ChecksumSHA256": sent})
                    number += 1
            await self._s3.complete_multipart_upload(
                Bucket=self.config.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):  # the sweep aborts it later if this fails too
                await asyncio.shield(
                    self._s3.abort_multipart_upload(Bucket=self.config.bucket, Key=name, UploadId=upload_id)
                )
            raise

    async def _confirm(self, key: str, name: str, sha256: str, size: int) -> None:
        head = await self._s3.head_object(Bucket=self.config.bucket, Key=name)
        if head["ContentLength"] != size or head.get("Metadata", {}).get("sha256") != sha256:
            raise Unavailable(f"the object store does not show {key} as it was sent; retry")

    async def digest(self, key: str) -> tuple[str, int]:
        head = await self._head(key)
        return head.get("Metadata", {}).get("sha256", ""), head["ContentLength"]

    async def _head(self, key: str) -> dict[str, Any]:
        async with self._faults(f"looking up {key}"):
            try:
                return await self._s3.head_object(Bucket=self.config.bucket, Key=self.object_name(key))
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    raise BlobMissing(key) from exc
                raise

    async def read(self, key: str, chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        async with self._faults(f"reading {key}"):
            try:
                reply = await self._s3.get_object(Bucket=self.config.bucket, Key=self.object_name(key))
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    raise BlobMissing(key) from exc
                raise
        recorded = reply.get("Metadata", {}).get("sha256", "")
        hasher = hashlib.sha256()
        held = b""  # one chunk behind: the last one waits for the whole hash
        buffer = bytearray()
        body = reply["Body"]
        try:
            async with self._faults(f"reading {key}"):
                async for piece in body.iter_chunks(max(chunk_bytes, 64 * 1024)):
                    hasher.update(piece)
                    buffer += piece
                    while len(buffer) >= chunk_bytes:
                        if held:
                            yield held
                        held = bytes(buffer[:chunk_bytes])
                        del buffer[:chunk_bytes]
        finally:
            body.close()
        if hasher.hexdigest() != recorded:
            raise BlobCorrupt(key, "the object does not hash to its recorded SHA-256")
        if held:
            yield held
        if buffer:
            yield bytes(buffer)

    async def delete(self, key: str) -> None:
        names = [self.object_name(key), self._marker(key)]
        async with self._faults(f"deleting {key}"):
            await asyncio.gather(*(self._s3.delete_object(Bucket=self.config.bucket, Key=name) for name in names))

    async def expect_deletion(self, keys: list[str]) -> None:
        async with self._faults("recording a deletion"):
            await asyncio.gather(
                *(self._s3.put_object(Bucket=self.config.bucket, Key=self._marker(key), Body=b"") for key in keys)
            )

    async def sweep_candidates(self) -> AsyncIterator[list[str]]:
        """Stale multipart uploads are aborted first; then deletions that may have died half-way, then
        every settled minute after the cursor. Each minute is judged whole before the cursor passes it."""
        settled_ms = int(self._clock() * 1000) - SWEEP_MIN_AGE_MS
        await self._abort_stale_uploads(settled_ms)
        async for markers in self._list(f"{self.config.prefix}_deleting/", before_ms=settled_ms):
            keys = [name.rsplit("/", 1)[-1] for name in markers]
            yield keys
            # Judged: the orphans among them are gone (with their marker); the rest have their row.
            await asyncio.gather(*(self._s3.delete_object(Bucket=self.config.bucket, Key=m) for m in markers))
        minute = await self._read_cursor()
        assert minute is not None, "start() writes the cursor"
        while (minute + 1) * MINUTE_MS <= settled_ms:
            async for names in self._list(f"{self.config.prefix}{minute_path(minute)}"):
                keys = [name.rsplit("/", 1)[-1] for name in names]
                yield [key for key in keys if _is_key(key)]
            minute += 1
            await self._write_cursor(minute)

    async def _list(self, prefix: str, before_ms: int | None = None) -> AsyncIterator[list[str]]:
        paginator = self._s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(
            Bucket=self.config.bucket, Prefix=prefix, PaginationConfig={"PageSize": SWEEP_BATCH}
        ):
            names = [
                item["Key"]
                for item in page.get("Contents", [])
                if before_ms is None or item["LastModified"].timestamp() * 1000 < before_ms
            ]
            if names:
                yield names

    async def _abort_stale_uploads(self, settled_ms: int) -> None:
        paginator = self._s3.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.config.bucket, Prefix=self.config.prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() * 1000 < settled_ms:
                    log.info("aborting a stale multipart upload", extra={"key": upload["Key"]})
                    await self._s3.abort_multipart_upload(
                        Bucket=self.config.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )

    async def _read_cursor(self) -> int | None:
        try:
            reply = await self._s3.get_object(Bucket=self.config.bucket, Key=self._cursor_name)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise
        async with reply["Body"] as body:
            return int((await body.read()).decode())

    async def _write_cursor(self, minute: int) -> None:
        """Replicas sweeping at once may write it out of order: a minute swept twice is harmless."""
        await self._s3.put_object(Bucket=self.config.bucket, Key=self._cursor_name, Body=str(minute).encode())

    # -- downloads that skip Python -----------------------------------------------------------

    async def presigned_url(self, key: str, content_type: str) -> tuple[str, int]:
        """A GET URL for `key` valid for `presign_seconds`, with the content type and immutable caching
        signed into it (the client cannot change them); the URL and its lifetime in seconds."""
        seconds = self.config.presign_seconds
        url = await self._signer.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.config.bucket,
                "Key": self.object_name(key),
                "ResponseContentType": content_type,
                "ResponseCacheControl": CACHE_CONTROL,
            },
            ExpiresIn=seconds,
        )
        return url, seconds


def _is_key(name: str) -> bool:
    try:
        split_key(name)
    except ValueError:
        return False
    return True


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _file_digest(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_CHUNK_BYTES):
            hasher.update(block)
            size += len(block)
    return hasher.hexdigest(), size
