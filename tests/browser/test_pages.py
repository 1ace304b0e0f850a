"""The rest of what a person does, with the stage set over the API: the feed loading more as you
scroll, comments oldest first with "More comments", editing your profile (with a field's
message for a bad name), and the size of the first load."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.webdriver.common.by import By

from tests.browser.people import PASSWORD, ApiUser, unique
from tests.browser.scenes import scene_jpeg
from tests.support.browser import WebApp

WEB = Path(__file__).resolve().parents[2] / "web"
FIRST_LOAD_BUDGET = 100 * 1024  # bytes of JS and CSS, compressed as the browser received them


def test_first_load_is_small_and_complete(app: WebApp, shots: Path) -> None:
    app.driver.execute_cdp_cmd("Network.enable", {})
    app.driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    app.driver.get("about:blank")
    app.open("#/signin")
    entries = app.js(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => /\\.(js|css)$/.test(new URL(e.name).pathname))"
        ".map((e) => ({name: e.name, encoded: e.encodedBodySize, decoded: e.decodedBodySize}))"
    )
    loaded = {entry["name"].split("/assets/", 1)[1].split("/", 1)[1] for entry in entries}
    shipped = {path.relative_to(WEB).as_posix() for path in WEB.rglob("*") if path.suffix in (".js", ".css")}
    assert loaded == shipped, "the first load fetches every module and the stylesheet, nothing else"
    encoded = sum(entry["encoded"] for entry in entries)
    decoded = sum(entry["decoded"] for entry in entries)
    assert encoded <= FIRST_LOAD_BUDGET, f"first load is {encoded} bytes compressed"
    assert encoded < decoded / 2, "the assets came compressed"
    (shots / "first-load.txt").write_text(
        f"{len(entries)} files; JS+CSS {decoded} bytes, {encoded} bytes as received (compressed)\n"
    )


def test_feed_scrolls_and_comments_page_oldest_first(app: WebApp, gateway: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        poster = ApiUser.sign_up(http, unique("carol"), "Carol Reed")
        reader = ApiUser.sign_up(http, unique("dave"), "Dave")
        reader.follow(poster)
        jpeg = scene_jpeg(480, 360, "noon", grain=4)
        photos = [poster.upload(jpeg, f"Shot {n}", "Faro") for n in range(10)]
        for n in range(23):
            poster.comment(photos[-1]["photoId"], f"note {n}")

    app.open("#/signin")
    app.sign_in(reader.username, PASSWORD)
    app.until_shown("#/", lambda: "Shot 9" in app.text() and "Shot 2" in app.text())
    first_page = app.main().find_elements(By.CSS_SELECTOR, "article.post")
    assert len(first_page) == 8, "a page of the feed at a time"
    assert [a.find_element(By.CSS_SELECTOR, "h2").text for a in first_page[:2]] == ["Shot 9", "Shot 8"]
    app.js("window.scrollTo(0, document.body.scrollHeight)")
    app.browser.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.post")) == 10, message="the next page")
    assert app.main().find_elements(By.CSS_SELECTOR, "article.post")[-1].find_element(By.CSS_SELECTOR, "h2").text == (
        "Shot 0"
    )
    assert not app.main().find_element(By.XPATH, ".//button[normalize-space()='Older posts']").is_displayed()

    app.go(f"#/p/{photos[-1]['photoId']}")
    comments = lambda: [c.text for c in app.main().find_elements(By.CSS_SELECTOR, ".comment-text")]  # noqa: E731
    assert comments() == [f"note {n}" for n in range(20)] and "23 comments" in app.text()
    app.button("More comments").click()
    app.browser.wait(lambda d: len(comments()) == 23)
    assert comments() == [f"note {n}" for n in range(23)]
    assert not app.main().find_element(By.XPATH, ".//button[normalize-space()='More comments']").is_displayed()


def test_edit_your_profile(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        person = ApiUser.sign_up(http, unique("erin"), "Erin")
    app.open("#/signin")
    app.sign_in(person.username, PASSWORD)
    app.link("Profile").click()
    app.browser.wait(lambda d: app.heading() == "Erin")
    app.link("Edit profile").click()
    app.browser.wait(lambda d: app.heading() == "Edit profile")
    name = app.field("Name")
    name.clear()
    name.send_keys("E" * 65)
    app.field("Bio").send_keys("Street photos,\nmostly at night.")
    app.button("Save").click()
    message = app.browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error"))[0]
    assert message.text == "Name must be at most 64 characters."
    assert name.get_attribute("aria-invalid") == "true"
    assert not app.capture("edit-profile-error")
    name.clear()
    name.send_keys("Erin Night")
    app.button("Save").click()
    app.browser.wait(lambda d: app.heading() == "Erin Night")
    assert "Street photos,\nmostly at night." in app.text()
    app.driver.refresh()
    assert app.heading() == "Erin Night", "saved, not just shown"
