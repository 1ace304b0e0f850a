"""A real Chromium for tests: Debian's `chromium` and `chromium-driver` (`make browser` installs
them), driven by Selenium. Never a downloaded browser: Selenium Manager is skipped because the
driver's path is given, and the browser runs with no network features of its own."""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.mesh import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,800",
)
# One pin, in the Makefile, which installs it (`make browser`): npm's axe-core into .tools.
AXE_VERSION = re.search(r"^AXE_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)  # type: ignore[union-attr]
AXE_SCRIPT = ROOT / ".tools" / f"axe-core-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js"


class BrowserUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    mobile: bool


PHONE = Viewport("phone", 390, 844, True)
DESKTOP = Viewport("desktop", 1280, 800, False)

T = TypeVar("T")


class Browser:
    """One Chromium for the whole session; tests share it and start each from a clean origin state."""

    def __init__(self) -> None:
        missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
        if missing:
            raise BrowserUnavailable(f"missing {', '.join(missing)}: run `make browser` (apt-get install chromium)")
        self.profile = Path(tempfile.mkdtemp(prefix="shutter-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        except WebDriverException as exc:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise BrowserUnavailable(f"chromium did not start: {exc.msg}") from exc
        self.driver.set_page_load_timeout(30)
        self.viewport(DESKTOP)

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    # -- pages ---------------------------------------------------------------------------------

    def viewport(self, viewport: Viewport) -> None:
        """The page's size exactly (CSS pixels, scale 1), phone or desktop."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": viewport.width, "height": viewport.height, "deviceScaleFactor": 1, "mobile": viewport.mobile},
        )

    def wait(self, condition: Callable[[webdriver.Chrome], T], timeout: float = 20, message: str = "") -> T:
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition, message)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def screenshot(self, path: Path) -> Path:
        """The viewport as a PNG (the page is scrolled to the top first)."""
        self.js("window.scrollTo(0, 0)")
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    # -- accessibility -------------------------------------------------------------------------

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's violations on the current page (WCAG 2.x A and AA rules and best practices)."""
        if not AXE_SCRIPT.exists():
            raise BrowserUnavailable(f"missing {AXE_SCRIPT}: run `make browser` (npm install axe-core@{AXE_VERSION})")
        if not self.js("return typeof window.axe === 'object'"):
            self.js(AXE_SCRIPT.read_text())
        result = self.driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']})
              .then((r) => done(JSON.stringify(r.violations)))
              .catch((e) => done(JSON.stringify({error: String(e)})));
            """
        )
        violations = json.loads(result)
        if isinstance(violations, dict):
            raise RuntimeError(f"axe failed: {violations['error']}")
        return violations


def serious(violations: list[dict[str, Any]]) -> list[str]:
    """The serious and critical ones, one line each with the elements they concern."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
        for v in violations
        if v.get("impact") in ("serious", "critical")
    ]


class WebApp:
    """Shutter's web client in the shared browser, operated the way a person does: by labels,
    button names and links. `origin` is the gateway that serves it."""

    def __init__(self, browser: Browser, origin: str, shots: Path) -> None:
        self.browser = browser
        self.driver = browser.driver
        self.origin = origin
        self.shots = shots

    # -- finding things ------------------------------------------------------------------------

    def _xpath_text(self, text: str) -> str:
        return json.dumps(text) if "'" in text else f"'{text}'"

    def field(self, label: str) -> WebElement:
        """The control a <label> with exactly this text names."""
        xpath = f"//label[normalize-space()={self._xpath_text(label)}]"
        label_element = self.browser.wait(lambda d: _visible(d.find_elements(By.XPATH, xpath)), message=label)
        return self.driver.find_element(By.ID, label_element.get_attribute("for"))

    def button(self, name: str, within: WebElement | None = None) -> WebElement:
        """A visible button whose text or aria-label starts with `name`."""
        quoted = self._xpath_text(name)
        xpath = f".//button[starts-with(normalize-space(), {quoted}) or starts-with(@aria-label, {quoted})]"
        scope = within or self.driver
        return self.browser.wait(lambda d: _visible(scope.find_elements(By.XPATH, xpath)), message=f"button {name}")

    def link(self, text: str, within: WebElement | None = None) -> WebElement:
        xpath = f".//a[normalize-space()={self._xpath_text(text)}]"
        scope = within or self.driver
        return self.browser.wait(lambda d: _visible(scope.find_elements(By.XPATH, xpath)), message=f"link {text}")

    def main(self) -> WebElement:
        return self.driver.find_element(By.ID, "main")

    def heading(self) -> str:
        return self.wait_ready().find_element(By.TAG_NAME, "h1").text

    def text(self) -> str:
        return self.main().text

    # -- moving around -------------------------------------------------------------------------

    def open(self, hash_path: str = "#/") -> None:
        """Load the page at this address (reloading it when the browser is already there)."""
        target = f"{self.origin}/{hash_path}"
        if self.driver.current_url == target:
            self.driver.refresh()
        else:
            self.driver.get(target)
        self.wait_ready()

    def go(self, hash_path: str) -> None:
        self.js("location.hash = arguments[0]", hash_path)
        self.wait_ready()

    def js(self, script: str, *args: Any) -> Any:
        return self.browser.js(script, *args)

    def wait_ready(self, timeout: float = 20) -> WebElement:
        """Until the page has drawn (no aria-busy on <main>, a heading) and its visible photos have loaded."""

        def ready(driver: webdriver.Chrome) -> WebElement | bool:
            main = driver.find_element(By.ID, "main")
            if main.get_attribute("aria-busy") or not main.find_elements(By.TAG_NAME, "h1"):
                return False
            pending = driver.execute_script(
                """
                return [...document.querySelectorAll('img.photo')].filter((img) => {
                  const r = img.getBoundingClientRect();
                  const onScreen = r.bottom > 0 && r.top < innerHeight && r.width > 0;
                  return onScreen && !img.classList.contains('missing') && !(img.complete && img.naturalWidth > 0);
                }).length;
                """
            )
            return main if pending == 0 else False

        return self.browser.wait(ready, timeout, "the page to finish loading")

    def wait_text(self, text: str, timeout: float = 20) -> None:
        self.browser.wait(lambda d: text in d.find_element(By.TAG_NAME, "body").text, timeout, f"text {text!r}")

    def until_shown(self, hash_path: str, shown: Callable[[], bool], timeout: float = 30) -> None:
        """Reload a page until `shown()` (for what arrives through events: feeds, search)."""
        deadline = time.monotonic() + timeout
        self.open(hash_path)
        while not shown():
            if time.monotonic() > deadline:
                raise AssertionError(f"{hash_path} did not show what was expected within {timeout}s:\n{self.text()}")
            time.sleep(0.5)
            self.open(hash_path)

    # -- the session ---------------------------------------------------------------------------

    def sign_up(self, username: str, display_name: str, password: str) -> None:
        self.open("#/signup")
        self.field("Username").send_keys(username)
        self.field("Name").send_keys(display_name)
        self.field("Password").send_keys(password)
        self.button("Create account").click()
        self.browser.wait(lambda d: d.execute_script("return location.hash") == "#/", message="home after sign-up")
        self.wait_ready()

    def sign_in(self, username: str, password: str) -> None:
        self.field("Username").send_keys(username)
        self.field("Password").send_keys(password)
        self.button("Sign in").click()
        self.browser.wait(lambda d: not d.execute_script("return location.hash").startswith("#/signin"))
        self.wait_ready()

    def sign_out(self) -> None:
        self.js("localStorage.clear()")
        self.open("#/signin")

    # -- evidence ------------------------------------------------------------------------------

    def capture(self, name: str) -> list[str]:
        """Screenshots at phone and desktop widths, and axe's serious/critical findings at both."""
        findings = []
        for viewport in (PHONE, DESKTOP):
            self.browser.viewport(viewport)
            self.wait_ready()
            self.browser.screenshot(self.shots / f"{name}-{viewport.name}.png")
            findings += [f"{name} at {viewport.name}: {finding}" for finding in serious(self.browser.axe())]
        return findings


def _visible(elements: list[WebElement]) -> WebElement | bool:
    shown = [element for element in elements if element.is_displayed()]
    return shown[0] if shown else False
