"""The web client's files (web/), served as they are at `/`: the gateway adds caching, nothing else.

Every file but index.html is an asset served under `/assets/<version>/<path>`, where <version> is
a digest of the whole folder taken at start-up. A changed file changes the URL of every asset, so
browsers may keep assets for a year (`immutable`) and never serve a stale one; index.html, the
one entry point, names them through its `{assets}` placeholder and is revalidated on every load
(`no-cache` + ETag). ES modules import each other relatively, so their URLs follow by themselves.
Compression is left to the gateway's middleware, like every other answer.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.downloads import etag_matches
from gateway.errors import GatewayError, gateway_error_response
from gateway.settings import DEFAULT_WEB_DIR, GatewaySettings

log = logging.getLogger("shutter.gateway")

DEFAULT_ROOT = DEFAULT_WEB_DIR
ASSETS_PLACEHOLDER = "{assets}"
# Only these kinds are served; anything else in the folder (notes, editor files) stays private.
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
ASSET_CACHE = "public, max-age=31536000, immutable"
INDEX_CACHE = "no-cache"


@dataclass(frozen=True)
class File:
    body: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> File:
        # Weak: the compression middleware may send another encoding of the same content.
        return cls(body, media_type, f'W/"{hashlib.sha256(body).hexdigest()[:32]}"')


class WebClient:
    """The folder read once into memory; a few hundred kilobytes at most."""

    def __init__(self, root: Path) -> None:
        assets: dict[str, File] = {}
        digest = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root).as_posix()
            media_type = MEDIA_TYPES.get(path.suffix)
            if media_type is None or relative == "index.html":
                continue
            body = path.read_bytes()
            digest.update(relative.encode() + b"\0" + hashlib.sha256(body).digest())
            assets[relative] = File.of(body, media_type)
        index = (root / "index.html").read_bytes()
        digest.update(b"index.html\0" + hashlib.sha256(index).digest())
        self.version = digest.hexdigest()[:16]
        self.prefix = f"/assets/{self.version}"
        self.assets = assets
        named = index.replace(ASSETS_PLACEHOLDER.encode(), self.prefix.encode())
        self.index = File.of(named, "text/html; charset=utf-8")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.serve_index, methods=["GET"]),
            Route("/assets/{version}/{path:path}", self.serve_asset, methods=["GET"]),
        ]

    async def serve_index(self, request: Request) -> Response:
        return _answer(request, self.index, INDEX_CACHE)

    async def serve_asset(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["path"])
        if asset is None or request.path_params["version"] != self.version:
            # An old version is gone for good: index.html, revalidated, names the current one.
            error = GatewayError(grpc.StatusCode.NOT_FOUND, f"no asset {request.url.path}")
            return gateway_error_response(error)
        return _answer(request, asset, ASSET_CACHE)


def _answer(request: Request, file: File, cache_control: str) -> Response:
    headers = {"ETag": file.etag, "Cache-Control": cache_control}
    if etag_matches(request.headers.get("if-none-match"), file.etag.removeprefix("W/")):
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)


def routes(settings: GatewaySettings) -> list[BaseRoute]:
    """`/` and the assets, or nothing when the gateway runs without the client's folder."""
    root = settings.web_dir
    if not (root / "index.html").is_file():
        log.warning("no web client to serve", extra={"web_dir": str(root)})
        return []
    return WebClient(root).routes()
