"""The web client on a real mesh whose limits are on: a locked-out sign-in says when to try again, from the
gateway's Retry-After, and the lockout lifts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import Browser, WebApp
from tests.support.mesh import Mesh
from tests.support.users import DEFAULT_PASSWORD, unique_username

LOCKOUT_SECONDS = 20
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def limited_gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    env = {
        "SHUTTER_LIMITS_ENABLED": "1",
        "SHUTTER_SIGNIN_FAILURES_BEFORE_LOCKOUT": "1",
        "SHUTTER_SIGNIN_LOCKOUT_SECONDS": str(LOCKOUT_SECONDS),
    }
    mesh = Mesh(Path(tmp_path_factory.mktemp("limits-browser")), services=("user",), extra_env=env)
    try:
        await mesh.start()
        url = mesh.start_gateway()
        await mesh.wait_gateway()
        yield url
    finally:
        await mesh.close()


def status_text(app: WebApp, previous: str = "") -> str:
    return app.browser.wait(
        lambda d: ((text := d.find_element(By.CSS_SELECTOR, ".form-status").text) != previous and text) or False
    )


def test_a_locked_out_sign_in_says_when_to_try_again(limited_gateway: str, browser: Browser, shots: Path) -> None:
    app = WebApp(browser, limited_gateway, shots)
    app.sign_up(unique_username("lock"), "Locked", DEFAULT_PASSWORD)
    username = app.js("return JSON.parse(localStorage.getItem('shutter.session')).user.username")
    app.sign_out()

    app.field("Username").send_keys(username)
    app.field("Password").send_keys("not my password")
    app.button("Sign in").click()
    wrong = status_text(app)
    assert "Try again" not in wrong  # the first failure: just wrong

    app.button("Sign in").click()  # the second: this address is locked out for this account
    locked = status_text(app, wrong)
    found = re.search(r"Try again in (\d+) seconds", locked)
    assert found, locked
    assert LOCKOUT_SECONDS - 3 <= int(found.group(1)) <= LOCKOUT_SECONDS
    app.capture("signin-locked-out")
    browser.driver.get("about:blank")
