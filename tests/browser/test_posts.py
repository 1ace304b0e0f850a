"""Richer posts in the browser: an album posted through the upload form (alt text per photo, a caption with a
#tag and an @mention), then seen on its page as a swipeable list of images whose alt text is each <img>'s alt,
with the caption's tag and mention as links."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from tests.browser.people import PASSWORD, ApiUser, unique
from tests.browser.scenes import scene_jpeg
from tests.support.browser import WebApp


def first_post_link(driver: WebDriver) -> str | bool:
    """The hash of the first post linked from the page; False while the page is still being drawn."""
    try:
        links = driver.find_elements(By.CSS_SELECTOR, "#main a[href^='#/p/']")
        return links[0].get_attribute("href").split("/", 3)[-1] if links else False
    except StaleElementReferenceException:
        return False


def test_post_an_album_with_alt_text_and_a_caption(app: WebApp, gateway: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        author = ApiUser.sign_up(http, unique("gwen"), "Gwen")
        friend = ApiUser.sign_up(http, unique("hal"), "Hal")
    files = []
    for n, (palette, grain) in enumerate((("dawn", 4), ("noon", 4), ("dawn", 12))):
        path = tmp_path / f"scene-{n}.jpg"
        path.write_bytes(scene_jpeg(360, 240, palette, grain=grain))
        files.append(str(path))

    app.open("#/signin")
    app.sign_in(author.username, PASSWORD)
    app.go("#/upload")
    app.field("Photos").send_keys("\n".join(files))
    for n in range(3):
        app.field(f"Alt text for photo {n + 1}").send_keys(f"Harbour at {('dawn', 'noon', 'dusk')[n]}")
    app.field("Title").send_keys("A day at the harbour")
    app.field("Caption").send_keys(f"Three moods #harbour\nwith @{friend.username}")
    app.button("Share").click()
    app.browser.wait(lambda d: "#/u/" in d.execute_script("return location.hash"), message="the profile after posting")

    app.wait_ready()
    app.go(app.browser.wait(lambda d: first_post_link(d), message="the new post on the profile"))
    album = app.browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.album"), message="the album")[0]
    images = album.find_elements(By.CSS_SELECTOR, "img.photo")
    assert [img.get_attribute("alt") for img in images] == ["Harbour at dawn", "Harbour at noon", "Harbour at dusk"]
    assert app.js("return getComputedStyle(arguments[0]).scrollSnapType", album).startswith("x")
    app.browser.wait(lambda d: all(img.get_attribute("src") for img in images), message="every image loaded")
    caption = app.main().find_element(By.CSS_SELECTOR, ".caption")
    assert caption.text == f"Three moods #harbour\nwith @{friend.username}"
    tag = caption.find_element(By.CSS_SELECTOR, "a.hashtag")
    mention = caption.find_element(By.CSS_SELECTOR, "a.mention")
    assert tag.get_attribute("href").endswith("#/search?tag=harbour")
    assert mention.get_attribute("href").endswith(f"#/u/{friend.username}")
    assert not app.capture("album")
    mention.click()
    app.browser.wait(lambda d: app.heading() == "Hal", message="the mentioned person's profile")


def test_edit_your_post(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        author = ApiUser.sign_up(http, unique("ivy"), "Ivy")
        photo = author.upload(scene_jpeg(320, 240, "noon", grain=4), "Old title", "Lorient")
    app.open("#/signin")
    app.sign_in(author.username, PASSWORD)
    app.go(f"#/p/{photo['photoId']}")
    app.link("Edit post").click()
    app.browser.wait(lambda d: app.heading() == "Edit post")
    title = app.field("Title")
    assert title.get_attribute("value") == "Old title"
    title.clear()
    title.send_keys("New title")
    app.field("Caption").send_keys("Now with a caption #edited")
    app.field("Alt text").send_keys("A calm harbour at noon")
    app.button("Save").click()
    app.browser.wait(lambda d: app.heading() == "New title", message="the post with its new title")
    assert app.main().find_element(By.CSS_SELECTOR, ".caption").text == "Now with a caption #edited"
    assert (
        app.main().find_element(By.CSS_SELECTOR, ".photo-frame img.photo").get_attribute("alt")
        == "A calm harbour at noon"
    )
    alt_too_long = "x" * 1501
    app.link("Edit post").click()
    app.browser.wait(lambda d: app.heading() == "Edit post")
    app.js("arguments[0].removeAttribute('maxlength')", app.field("Alt text"))
    app.field("Alt text").send_keys(alt_too_long)
    app.button("Save").click()
    message = app.browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error"))[0]
    assert "1500" in message.text


def test_reply_to_a_comment_and_like_it(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        owner = ApiUser.sign_up(http, unique("jo"), "Jo")
        reader = ApiUser.sign_up(http, unique("kim"), "Kim")
        photo = owner.upload(scene_jpeg(320, 240, "dawn", grain=4), "Threads")
        owner.comment(photo["photoId"], "first thought")
        owner.comment(photo["photoId"], "second thought")
    app.open("#/signin")
    app.sign_in(reader.username, PASSWORD)
    app.go(f"#/p/{photo['photoId']}")
    app.wait_text("first thought")
    first = app.main().find_elements(By.CSS_SELECTOR, "li.comment")[0]
    app.button("Reply", within=first).click()
    assert f"Replying to @{owner.username}" in app.text()
    app.field("Add a comment").send_keys("a reply")
    app.button("Post").click()
    app.wait_text("Comment posted.")
    texts = [
        li.find_element(By.CSS_SELECTOR, ".comment-text").text
        for li in app.main().find_elements(By.CSS_SELECTOR, "li.comment")
    ]
    assert texts == ["first thought", "a reply", "second thought"], "the reply sits under its top comment"
    assert "reply" in app.main().find_elements(By.CSS_SELECTOR, "li.comment")[1].get_attribute("class")
    like = app.button("Like this comment", within=first)
    like.click()
    app.browser.wait(lambda d: like.get_attribute("aria-pressed") == "true", message="the comment liked")
    assert like.text == "1"
    assert not app.capture("comment-thread")
    app.driver.refresh()
    app.wait_text("a reply")
    texts = [
        li.find_element(By.CSS_SELECTOR, ".comment-text").text
        for li in app.main().find_elements(By.CSS_SELECTOR, "li.comment")
    ]
    assert texts == ["first thought", "a reply", "second thought"], "threads come back from the server"
    first = app.main().find_elements(By.CSS_SELECTOR, "li.comment")[0]
    assert app.button("Unlike this comment", within=first).get_attribute("aria-pressed") == "true"
