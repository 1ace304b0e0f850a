"""The web client when parts of the mesh are down, on a private mesh (so stopping services leaves
the session's mesh alone): without Like the photo page still shows the photo and says likes are
unavailable; without View the page says Shutter can't be reached, and "Try again" recovers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.browser.people import PASSWORD, ApiUser, unique
from tests.browser.scenes import scene_jpeg
from tests.support.browser import Browser, WebApp
from tests.support.mesh import Mesh

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def private_mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    async with Mesh(Path(tmp_path_factory.mktemp("degraded-mesh"))) as mesh:
        mesh.start_gateway()
        await mesh.wait_gateway()
        yield mesh


def test_photo_page_without_likes_and_without_views(private_mesh: Mesh, browser: Browser, shots: Path) -> None:
    with httpx.Client(base_url=private_mesh.gateway_url, timeout=30) as http:
        owner = ApiUser.sign_up(http, unique("grace"), "Grace Hopper")
        photo = owner.upload(scene_jpeg(1200, 1500, "noon"), "Noon over the bay", "Porto", ("bay",))
    app = WebApp(browser, private_mesh.gateway_url, shots)
    app.open(f"#/signin?next=%23%2Fp%2F{photo['photoId']}")
    app.sign_in(owner.username, PASSWORD)
    assert app.heading() == "Noon over the bay"
    assert app.button("Like")

    private_mesh.stop("like")
    app.open(f"#/p/{photo['photoId']}")
    assert app.heading() == "Noon over the bay"
    image = app.main().find_element(By.CSS_SELECTOR, ".photo-frame img")
    assert image.get_attribute("data-variant") == "PHOTO_VARIANT_DISPLAY"
    assert int(image.get_attribute("naturalWidth")) > 0, "the photo still shows"
    assert "Likes unavailable right now." in app.text()
    assert not app.main().find_elements(By.CSS_SELECTOR, ".like-button")
    assert "0 comments" in app.text(), "comments still work"
    assert not app.capture("photo-likes-unavailable")

    private_mesh.stop("view")
    app.open(f"#/p/{photo['photoId']}")
    assert app.heading() == "This page didn’t load"
    banner = app.driver.find_element(By.ID, "banner")
    assert banner.is_displayed() and "can’t be reached right now" in banner.text
    assert not app.capture("unavailable")

    private_mesh.start_service("view")
    app.browser.wait(lambda d: _serving(private_mesh), 60, "view to come back")
    app.button("Try again", within=banner).click()
    app.browser.wait(lambda d: app.heading() == "Noon over the bay", 30)
    assert not banner.is_displayed()
    assert "Likes unavailable right now." in app.text()
    app.driver.get("about:blank")


def _serving(mesh: Mesh) -> bool:
    with httpx.Client(base_url=mesh.gateway_url, timeout=5) as http:
        return http.get("/healthz").json()["services"]["view"] == "SERVING"
