"""429 in the web client: "try again in N seconds", from the answer's Retry-After.

The mesh cannot be made to throttle on demand, so the real client files are served by the
gateway's own web module next to a stand-in API that answers every call with 429 and
`Retry-After: 30` (a google.rpc.Status body, as the gateway sends) — a real HTTP server on
loopback, driven by the real browser.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium.webdriver.common.by import By
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import middleware, web
from gateway.settings import GatewaySettings
from gateway.telemetry import HttpMetrics
from tests.support.browser import Browser, WebApp
from tests.support.mesh import free_port

RETRY_AFTER = 30


async def too_many_requests(request: Request) -> JSONResponse:
    body = {"code": 8, "message": "too many requests; slow down", "details": []}
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(RETRY_AFTER)})


@pytest.fixture(scope="module")
def throttling_origin() -> Iterator[str]:
    app = Starlette(
        routes=[
            *web.WebClient(web.DEFAULT_ROOT).routes(),
            Route("/v1/{path:path}", too_many_requests, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
    wrapped = middleware.wrap(app, GatewaySettings.from_env({}), HttpMetrics(app.routes))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(wrapped, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the stand-in server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def seconds_said(text: str) -> int:
    found = re.search(r"Try again in (\d+) seconds", text)
    assert found, text
    return int(found.group(1))


def test_throttled_calls_say_when_to_try_again(throttling_origin: str, browser: Browser, shots: Path) -> None:
    app = WebApp(browser, throttling_origin, shots)
    app.open("#/signin")
    app.field("Username").send_keys("someone")
    app.field("Password").send_keys("whatever password")
    app.button("Sign in").click()
    status = app.browser.wait(lambda d: d.find_element(By.CSS_SELECTOR, ".form-status").text or False)
    assert RETRY_AFTER - 2 <= seconds_said(status) <= RETRY_AFTER

    # A page that cannot load for the same reason says so, and the banner counts down.
    app.js(
        "localStorage.setItem('shutter.session', JSON.stringify({token: 't', expiresAt: arguments[0],"
        " user: {userId: '1', username: 'someone', displayName: 'Someone'}}))",
        "2100-01-01T00:00:00Z",
    )
    app.open("#/")
    banner = app.driver.find_element(By.ID, "banner")
    first = seconds_said(banner.text)
    assert RETRY_AFTER - 2 <= first <= RETRY_AFTER
    assert "Too many requests" in app.text()
    app.browser.wait(lambda d: seconds_said(banner.text) < first, 5, "the countdown")
    app.driver.get("about:blank")
