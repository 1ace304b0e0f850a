"""The rest of what a person does, with the stage set over the API: the feed loading more as you
scroll, comments oldest first with "More comments", editing your profile (with a field's
message for a bad name), and the size of the first load."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

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


def test_keyboard_only_sign_in_with_visible_focus(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        person = ApiUser.sign_up(http, unique("fay"), "Fay")
    app.open("#/signin")
    body = app.driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    focused = app.driver.switch_to.active_element
    assert focused.text == "Skip to content" and focused.rect["x"] >= 0, "the skip link shows when focused"
    focused.send_keys(Keys.ENTER)
    assert app.driver.switch_to.active_element.get_attribute("id") == "main"

    def tab_to(label: str) -> WebElement:
        for _ in range(10):
            app.driver.switch_to.active_element.send_keys(Keys.TAB)
            if app.driver.switch_to.active_element == app.field(label):
                return app.driver.switch_to.active_element
        raise AssertionError(f"Tab never reached {label}")

    tab_to("Username").send_keys(person.username)
    password = tab_to("Password")
    outline = app.js("const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth]", password)
    assert outline[0] != "none" and outline[1] != "0px", f"focus is visible: {outline}"
    password.send_keys(PASSWORD, Keys.ENTER)
    app.browser.wait(lambda d: app.heading() == "Home")


def test_a_dropped_photo_is_previewed(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        person = ApiUser.sign_up(http, unique("gil"), "Gil")
    app.open("#/signin")
    app.sign_in(person.username, PASSWORD)
    app.go("#/upload")
    app.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const canvas = Object.assign(document.createElement('canvas'), {width: 300, height: 200});
        canvas.getContext('2d').fillRect(0, 0, 300, 200);
        canvas.toBlob((blob) => {
          const files = new DataTransfer();
          files.items.add(new File([blob], 'dropped.jpg', {type: 'image/jpeg'}));
          document.querySelector('.drop').dispatchEvent(new DragEvent('drop', {dataTransfer: files, bubbles: true}));
          done();
        }, 'image/jpeg');
        """
    )
    preview = app.browser.wait(lambda d: d.find_element(By.CSS_SELECTOR, "img.preview:not([hidden])"))
    assert preview.get_attribute("alt") == "Preview of dropped.jpg"
    assert int(preview.get_attribute("naturalWidth")) == 300


def test_a_session_past_its_expiry_signs_in_again_and_returns(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        person = ApiUser.sign_up(http, unique("hal"), "Hal")
    app.open("#/signin")
    app.sign_in(person.username, PASSWORD)
    app.js(
        "const s = JSON.parse(localStorage.getItem('shutter.session')); s.expiresAt = '2000-01-01T00:00:00Z';"
        "localStorage.setItem('shutter.session', JSON.stringify(s));"
    )
    app.open("#/settings")
    assert app.js("return location.hash") == "#/signin?next=%23%2Fsettings"
    app.sign_in(person.username, PASSWORD)
    assert app.heading() == "Edit profile"
