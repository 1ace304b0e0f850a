"""One real Chromium for the session, on the web client the session's gateway serves.

Screenshots go to $SHUTTER_SCREENSHOTS when set (e.g. docs/screenshots), else to the pytest tmp
directory; the run's summary says where.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import Browser, BrowserUnavailable, WebApp

_shots: list[Path] = []


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        running = Browser()
    except BrowserUnavailable as exc:
        pytest.fail(f"the browser tests need Debian's chromium: {exc}", pytrace=False)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("SHUTTER_SCREENSHOTS")
    folder = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    _shots.append(folder)
    return folder


@pytest.fixture
def app(browser: Browser, gateway: str, shots: Path) -> Iterator[WebApp]:
    """The client on the session's gateway, signed out, at desktop size."""
    web = WebApp(browser, gateway, shots)
    web.open("#/signin")
    web.js("localStorage.clear()")
    yield web
    errors = browser.console_errors()
    browser.driver.get("about:blank")
    # Failed requests the tests cause on purpose show as console errors too; anything else is a bug.
    unexpected = [e for e in errors if "Failed to load resource" not in e]
    assert not unexpected, f"the page logged errors: {unexpected}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _shots:
        count = len(list(_shots[0].glob("*.png")))
        terminalreporter.write_line(f"browser: {count} screenshots in {_shots[0]}")
