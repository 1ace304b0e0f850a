"""What browsers get from the gateway, over real HTTP: the web client at / (index revalidated,
assets under a content-hashed prefix and immutable), gzip/br for JSON and assets but not for
photo bytes, ETag revalidation of photos, a same-origin-only CSP, and CORS off unless configured.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.runtime.mesh import gateway_command
from tests.support.mesh import ROOT, Mesh, free_port, wait_answering
from tests.support.photos import make_jpeg
from tests.support.users import sign_up

WEB = ROOT / "web"
FIRST_LOAD_BUDGET = 100 * 1024
ALLOWED_ORIGIN = "http://photos.example"


async def asset_prefix(http: httpx.AsyncClient) -> str:
    index = await http.get("/")
    found = re.search(r'src="(/assets/[0-9a-f]{16})/app\.js"', index.text)
    assert found, index.text
    return found.group(1)


def static_files(*suffixes: str) -> list[str]:
    return sorted(p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.suffix in suffixes)


async def test_index_is_revalidated_and_names_hashed_assets(http: httpx.AsyncClient) -> None:
    index = await http.get("/")
    assert index.status_code == 200 and index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.headers["cache-control"] == "no-cache"
    assert "{assets}" not in index.text
    prefix = await asset_prefix(http)
    assert f'href="{prefix}/style.css"' in index.text

    again = await http.get("/", headers={"If-None-Match": index.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_assets_are_immutable_under_their_version(http: httpx.AsyncClient) -> None:
    prefix = await asset_prefix(http)
    script = await http.get(f"{prefix}/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.text == (WEB / "app.js").read_text()
    module = await http.get(f"{prefix}/pages/photo.js")
    assert module.status_code == 200, "modules import each other relatively, under the same prefix"

    stale = await http.get(f"/assets/{'0' * 16}/app.js")
    assert stale.status_code == 404 and stale.json()["code"] == 5
    for missing in ("nope.js", "index.html", "..%2F..%2Fgateway%2Fapp.py"):
        assert (await http.get(f"{prefix}/{missing}")).status_code == 404, missing


@pytest.mark.parametrize("encoding", ["br", "gzip"])
async def test_assets_and_json_are_compressed(http: httpx.AsyncClient, mesh: Mesh, encoding: str) -> None:
    prefix = await asset_prefix(http)
    plain = await http.get(f"{prefix}/style.css", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    squeezed = await http.get(f"{prefix}/style.css", headers={"Accept-Encoding": encoding})
    assert squeezed.headers["content-encoding"] == encoding
    assert "Accept-Encoding" in squeezed.headers["vary"]
    assert squeezed.content == plain.content, "httpx decoded it back to the same bytes"
    assert squeezed.num_bytes_downloaded < len(plain.content) / 2

    document = await http.get("/openapi.json", headers={"Accept-Encoding": encoding})
    assert document.headers["content-encoding"] == encoding and document.json()["openapi"]

    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    photo_ids = []
    for n in range(4):
        files = {"file": ("p.jpg", make_jpeg(40, 30), "image/jpeg")}
        data = {"userId": str(user_id), "title": f"photo number {n}", "tags": ["a", "b"]}
        posted = await http.post("/v1/photos", data=data, files=files, headers=headers)
        assert posted.status_code == 200
        photo_ids.append(posted.json()["photo"]["photoId"])
    listed = await http.get(f"/v1/users/{user_id}/photos", headers={**headers, "Accept-Encoding": encoding})
    assert listed.status_code == 200 and len(listed.json()["photos"]) == 4
    assert listed.headers["content-encoding"] == encoding, "an RPC's JSON answer is compressed too"
    view = await http.get(
        f"/v1/views/photos/{photo_ids[0]}?userId={user_id}", headers={**headers, "Accept-Encoding": encoding}
    )
    # Above starlette-compress's own 500-byte floor, below the gateway's (SHUTTER_GATEWAY_COMPRESS_MIN_BYTES).
    assert view.status_code == 200 and 500 < len(view.content) < 1400, len(view.content)
    assert "content-encoding" not in view.headers, "an answer that fits in one packet is sent as it is"


async def test_photo_bytes_pass_uncompressed_and_revalidate_by_etag(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    user_id, headers = account.user_id, account.headers
    jpeg = make_jpeg(800, 600)
    uploaded = await http.post(
        "/v1/photos", data={"userId": str(user_id)}, files={"file": ("p.jpg", jpeg, "image/jpeg")}, headers=headers
    )
    photo_id = uploaded.json()["photo"]["photoId"]
    url = f"/v1/photos/{photo_id}/content?variant=PHOTO_VARIANT_DISPLAY"
    first = await http.get(url, headers={**headers, "Accept-Encoding": "br, gzip"})
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert "content-encoding" not in first.headers, "JPEG bytes are not compressed again"
    assert first.headers["content-length"] == str(len(first.content))
    assert "immutable" in first.headers["cache-control"] and first.headers["etag"]

    revalidated = await http.get(url, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated.headers["etag"] == first.headers["etag"]


async def test_every_answer_carries_a_same_origin_csp(http: httpx.AsyncClient) -> None:
    for path in ("/", "/openapi.json", "/v1/nothing-here"):
        answer = await http.get(path)
        policy = dict(
            part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";") if part.strip()
        )
        assert policy["script-src"] == "'self'", path
        assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
        assert "unsafe-inline" not in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_cors_is_off_by_default(http: httpx.AsyncClient) -> None:
    preflight = await http.options(
        "/v1/users", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = await http.get("/openapi.json", headers={"Origin": ALLOWED_ORIGIN})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


@pytest.fixture(scope="module")
async def cors_gateway(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A second gateway on the session's mesh, with CORS allowed for one origin."""
    port = free_port()
    env = {
        **mesh.env,
        "SHUTTER_GATEWAY_PORT": str(port),
        "SHUTTER_GATEWAY_METRICS_PORT": str(free_port()),  # not the session gateway's
        "SHUTTER_GATEWAY_CORS_ORIGINS": ALLOWED_ORIGIN,
    }
    log = Path(tmp_path_factory.mktemp("cors-gateway")) / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(gateway_command(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_answering(url, 60, explain=log.read_text)
        yield url
    finally:
        process.terminate()
        process.wait(15)


async def test_cors_answers_the_configured_origin_only(cors_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=cors_gateway, timeout=30) as http:
        preflight = await http.options(
            "/v1/users",
            headers={
                "Origin": ALLOWED_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "DELETE" in preflight.headers["access-control-allow-methods"]
        assert "access-control-allow-credentials" not in preflight.headers, "bearer tokens, not cookies"

        simple = await http.get("/openapi.json", headers={"Origin": ALLOWED_ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "retry-after" in simple.headers["access-control-expose-headers"].lower()

        other = await http.options(
            "/v1/users", headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
        )
        assert other.headers.get("access-control-allow-origin") != "http://elsewhere.example"
        assert other.status_code == 400


async def test_first_load_fits_the_budget(http: httpx.AsyncClient) -> None:
    """Every JS module and the stylesheet (the client loads them all at start), compressed."""
    prefix = await asset_prefix(http)
    for encoding in ("br", "gzip"):
        total = 0
        for name in static_files(".js", ".css"):
            answer = await http.get(f"{prefix}/{name}", headers={"Accept-Encoding": encoding})
            assert answer.status_code == 200, name
            total += answer.num_bytes_downloaded
        assert total <= FIRST_LOAD_BUDGET, f"{encoding}: {total} bytes"
