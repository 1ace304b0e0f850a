"""Two people use Shutter in a real Chromium, on the session's mesh, the way the issue tells it:
sign up, follow, post a real JPEG, see it in the feed, like, comment, visit the profile, search
the tag, unfollow — plus the field message for an over-long comment, a reload that keeps you
signed in, and an expired session that sends you to sign in and back. Every page is
screenshotted at phone and desktop widths and checked by axe-core.
"""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.alert import Alert
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.people import PASSWORD, unique
from tests.browser.scenes import scene_jpeg
from tests.support.browser import WebApp

DISPLAY, THUMBNAIL = "PHOTO_VARIANT_DISPLAY", "PHOTO_VARIANT_THUMBNAIL"
UPLOAD_BYTES_PER_SECOND = 100_000  # slow enough that progress events come while the bytes go


def loaded(image: WebElement) -> bool:
    return bool(image.get_attribute("complete")) and int(image.get_attribute("naturalWidth") or 0) > 0


def article_titled(app: WebApp, title: str) -> WebElement:
    return app.main().find_element(By.XPATH, f".//article[.//h2[normalize-space()='{title}']]")


def photo_requests(app: WebApp) -> list[str]:
    """Every photo the page has fetched so far (resource timing keeps the URLs)."""
    return app.js(
        "return performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/content'))"
    )


def accept_confirm(app: WebApp) -> None:
    app.browser.wait(lambda d: d.switch_to.alert, message="a confirm dialog")
    Alert(app.driver).accept()


def upload_in_the_browser(app: WebApp, jpeg: Path, title: str, location: str, tags: str) -> list[int]:
    """Post a photo through the form; the progress bar's values as the bytes went."""
    app.go("#/upload")
    app.field("Photos").send_keys(str(jpeg))
    preview = app.browser.wait(lambda d: d.find_element(By.CSS_SELECTOR, "img.preview:not([hidden])"))
    assert int(preview.get_attribute("naturalWidth")) == 1600, "the preview shows the chosen file"
    app.field("Title").send_keys(title)
    app.field("Location").send_keys(location)
    app.field("Tags").send_keys(tags)
    assert not app.capture("upload")
    app.js(
        """
        window.progressSeen = [];
        const bar = document.querySelector('progress');
        new MutationObserver(() => progressSeen.push(bar.value)).observe(bar, {attributeFilter: ['value']});
        """
    )
    app.driver.execute_cdp_cmd("Network.enable", {})
    app.driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": UPLOAD_BYTES_PER_SECOND},
    )
    try:
        app.button("Share").click()
        app.browser.wait(lambda d: "#/u/" in d.execute_script("return location.hash"), 60, "the profile after upload")
    finally:
        app.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
    app.wait_ready()
    return [int(value) for value in app.js("return window.progressSeen || []")]


def test_two_people_share_a_photo(app: WebApp, tmp_path: Path) -> None:
    ada, bob = unique("ada"), unique("bob")
    title, place, tag = "Harbour at dawn", "Lisbon", unique("sunrise")
    jpeg = tmp_path / "harbour.jpg"
    jpeg.write_bytes(scene_jpeg(1600, 1200))

    # Both sign up; the empty feed says what to do next.
    app.open("#/signup")
    assert not app.capture("signup")
    app.sign_up(ada, "Ada Lovelace", PASSWORD)
    assert "No posts yet — find people to follow" in app.text()
    assert not app.capture("feed-empty")
    app.link("Profile").click()
    app.browser.wait(lambda d: app.heading() == "Ada Lovelace")
    app.button("Sign out").click()
    app.browser.wait(lambda d: app.heading() == "Sign in")
    app.sign_up(bob, "Bob Marley", PASSWORD)

    # B finds A by the start of her name (accents and case aside) and follows.
    app.go("#/search")
    app.field("Find people").send_keys(ada[:-2].upper())
    app.button("Find").click()
    found = app.browser.wait(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"a.user-link[href='#/u/{ada}']"), message="Ada found"
    )
    found[0].click()
    app.browser.wait(lambda d: app.heading() == "Ada Lovelace")
    app.button("Follow").click()
    app.browser.wait(lambda d: app.button("Unfollow") and "1 follower" in app.text())

    # A signs in and posts a real JPEG; the bar follows the real upload; the profile shows it at once.
    app.sign_out()
    assert not app.capture("signin")
    app.sign_in(ada, PASSWORD)
    progress = upload_in_the_browser(app, jpeg, title, place, f"#{tag}, harbour")
    assert any(0 < value < 100 for value in progress), f"no progress while uploading: {progress}"
    assert progress[-1] == 100
    assert app.heading() == "Ada Lovelace"
    thumbnail = app.main().find_element(By.CSS_SELECTOR, f".grid img[alt='{title}']")
    assert thumbnail.get_attribute("data-variant") == THUMBNAIL and loaded(thumbnail)
    photo_link = thumbnail.find_element(By.XPATH, "./ancestor::a").get_attribute("href")
    photo_id = photo_link.rsplit("/", 1)[1]

    # B sees it in the feed (fan-out is asynchronous: reload until it arrives), likes it in place.
    app.sign_out()
    app.sign_in(bob, PASSWORD)
    app.until_shown("#/", lambda: title in app.text())
    post = article_titled(app, title)
    image = post.find_element(By.CSS_SELECTOR, "img.photo")
    assert image.get_attribute("data-variant") == DISPLAY and loaded(image)
    assert (image.get_dom_attribute("width"), image.get_dom_attribute("height")) == ("1600", "1200")
    assert image.get_attribute("alt") == title
    for expected in ("Ada Lovelace", f"@{ada}", place, "0 likes", "0 comments"):
        assert expected in post.text, (expected, post.text)
    like = app.button("Like", within=post)
    like.click()
    app.browser.wait(lambda d: like.get_attribute("aria-pressed") == "true" and "1 like" in post.text)
    assert not app.capture("feed")

    # The photo page: the display variant, the like, a comment; an over-long one gets the field's message.
    post.find_element(By.LINK_TEXT, title).click()
    app.browser.wait(lambda d: app.heading() == title)
    page_image = app.main().find_element(By.CSS_SELECTOR, ".photo-frame img")
    assert page_image.get_attribute("data-variant") == DISPLAY and loaded(page_image)
    assert app.button("Unlike").get_attribute("aria-pressed") == "true"
    app.field("Add a comment").send_keys("Lovely light!")
    app.button("Post").click()
    app.browser.wait(lambda d: "1 comment" in app.text() and "Lovely light!" in app.text())
    box = app.field("Add a comment")
    box.send_keys("x" * 2201)
    app.button("Post").click()
    message = app.browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".comment-form .field-error"))[0]
    assert message.text == "Your comment must be at most 2200 characters."
    assert box.get_attribute("aria-invalid") == "true"
    assert message.get_attribute("id") in box.get_attribute("aria-describedby")
    assert "1 comment" in app.text(), "nothing was posted"
    assert not app.capture("photo-comment-error")
    box.clear()

    # A reload keeps B signed in, on the same page.
    app.driver.refresh()
    app.wait_ready()
    assert app.heading() == title
    assert not app.capture("photo")
    assert all(DISPLAY in url or THUMBNAIL in url for url in photo_requests(app)), photo_requests(app)

    # B deletes their comment (confirmed), then opens A's profile from the photo's header.
    comment = app.main().find_element(By.CSS_SELECTOR, ".comment")
    app.button("Delete this comment", within=comment).click()
    accept_confirm(app)
    app.browser.wait(lambda d: "0 comments" in app.text() and "Lovely light!" not in app.text())
    app.main().find_element(By.CSS_SELECTOR, ".photo-side .user-link").click()
    app.browser.wait(lambda d: app.heading() == "Ada Lovelace")
    assert "1 follower" in app.text() and "0 following" in app.text()
    assert app.main().find_element(By.CSS_SELECTOR, f".grid a[href='#/p/{photo_id}'] img")
    assert not app.capture("profile")
    app.link("1 follower").click()
    app.browser.wait(lambda d: app.heading() == "People following Ada Lovelace")
    assert "Bob Marley" in app.text()
    assert not app.capture("followers")
    app.go(f"#/u/{bob}/following")
    assert app.heading() == "People Bob Marley follows" and "Ada Lovelace" in app.text()

    # Search by the tag (indexed from events: search again until it is there).
    app.go("#/search")
    app.field("Search for").send_keys(f"#{tag}")
    app.button("Search").click()
    app.browser.wait(lambda d: f"tag={tag}" in d.execute_script("return location.hash"))
    found = f".grid a[href='#/p/{photo_id}']"
    app.until_shown(f"#/search?tag={tag}", lambda: bool(app.main().find_elements(By.CSS_SELECTOR, found)))
    assert not app.capture("search")
    # ... and by words in the title, and by place (the same index, already up to date).
    app.driver.find_element(By.XPATH, "//label[normalize-space()='Words']").click()
    words = app.field("Search for")
    words.clear()
    words.send_keys("dawn harbour")
    app.button("Search").click()
    app.browser.wait(lambda d: "text=dawn%20harbour" in d.execute_script("return location.hash"))
    assert app.wait_ready().find_elements(By.CSS_SELECTOR, found)
    app.go(f"#/search?location={place}")
    assert app.main().find_elements(By.CSS_SELECTOR, found)

    # An expired session (the server refuses the token) sends B to sign in, then back to the photo.
    app.js(
        "const s = JSON.parse(localStorage.getItem('shutter.session')); s.token = 'expired';"
        "localStorage.setItem('shutter.session', JSON.stringify(s));"
    )
    app.open(f"#/p/{photo_id}")
    app.browser.wait(lambda d: d.execute_script("return location.hash").startswith("#/signin?next="))
    assert "Please sign in to continue." in app.text()
    app.sign_in(bob, PASSWORD)
    assert app.js("return location.hash") == f"#/p/{photo_id}" and app.heading() == title

    # B unfollows; the post leaves B's feed.
    app.go(f"#/u/{ada}")
    app.button("Unfollow").click()
    app.browser.wait(lambda d: app.button("Follow") and "0 followers" in app.text())
    app.until_shown("#/", lambda: "No posts yet" in app.text())
    assert title not in app.text()

    # A deletes the photo (the owner's button) and it is gone from the profile.
    app.sign_out()
    app.sign_in(ada, PASSWORD)
    app.go(f"#/p/{photo_id}")
    app.button("Delete photo").click()
    accept_confirm(app)
    app.browser.wait(lambda d: d.execute_script("return location.hash") == f"#/u/{ada}")
    app.wait_ready()
    assert "You haven’t posted yet." in app.text()
