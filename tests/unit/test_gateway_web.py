"""The gateway's web-client serving and browser headers, on a folder made per test (in-process ASGI)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from gateway import middleware, web
from gateway.settings import GatewaySettings
from gateway.telemetry import HttpMetrics

INDEX = '<!doctype html><link rel="stylesheet" href="{assets}/style.css"><script type="module" src="{assets}/app.js">'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "app.js").write_text("import './pages/a.js';\n")
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "a.js").write_text("export const a = 1;\n")
    (tmp_path / "style.css").write_text("body { color: black; }\n")
    (tmp_path / "NOTES.md").write_text("not for browsers\n")
    return tmp_path


def asgi_client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def client(root: Path) -> tuple[httpx.AsyncClient, web.WebClient]:
    site = web.WebClient(root)
    return asgi_client(Starlette(routes=site.routes())), site


async def test_index_names_the_assets_by_version(folder: Path) -> None:
    http, site = client(folder)
    index = await http.get("/")
    assert f'src="/assets/{site.version}/app.js"' in index.text
    assert f'href="/assets/{site.version}/style.css"' in index.text
    assert (await http.get(f"/assets/{site.version}/pages/a.js")).text == "export const a = 1;\n"


def test_any_changed_file_changes_the_version(folder: Path) -> None:
    before = web.WebClient(folder).version
    (folder / "pages" / "a.js").write_text("export const a = 2;\n")
    after = web.WebClient(folder).version
    assert before != after
    (folder / "pages" / "a.js").rename(folder / "pages" / "b.js")
    assert web.WebClient(folder).version not in (before, after), "a renamed file is a change too"


async def test_only_known_kinds_of_files_are_served(folder: Path) -> None:
    http, site = client(folder)
    assert (await http.get(f"/assets/{site.version}/NOTES.md")).status_code == 404
    assert (await http.get(f"/assets/{site.version}/index.html")).status_code == 404


async def test_revalidation_of_index_and_assets(folder: Path) -> None:
    http, site = client(folder)
    for path in ("/", f"/assets/{site.version}/app.js"):
        first = await http.get(path)
        assert first.headers["etag"].startswith('W/"')
        assert (await http.get(path, headers={"If-None-Match": first.headers["etag"]})).status_code == 304
        assert (await http.get(path, headers={"If-None-Match": 'W/"other"'})).status_code == 200


def test_no_folder_means_no_client(tmp_path: Path) -> None:
    settings = GatewaySettings.from_env({"SHUTTER_WEB_DIR": str(tmp_path / "missing")})
    assert web.routes(settings) == []


def test_the_repository_client_is_served_by_default() -> None:
    routes = web.routes(GatewaySettings.from_env({}))
    assert [route.path for route in routes] == ["/", "/assets/{version}/{path:path}"]


async def test_security_headers_keep_an_answer_s_own_policy() -> None:
    async def own(request: object) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Content-Security-Policy": "default-src 'none'"})

    app = Starlette(routes=[Route("/own", own)])
    wrapped = middleware.wrap(app, GatewaySettings.from_env({}), HttpMetrics(app.routes))
    answer = await asgi_client(wrapped).get("/own")
    assert answer.headers["content-security-policy"] == "default-src 'none'"
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("", []),
        (" ", []),
        ("https://a.example", ["https://a.example"]),
        ("https://a.example, *", ["https://a.example", "*"]),
    ],
)
def test_cors_origins_setting(value: str, origins: list[str]) -> None:
    assert middleware.cors_origins(GatewaySettings.from_env({"SHUTTER_GATEWAY_CORS_ORIGINS": value})) == origins
