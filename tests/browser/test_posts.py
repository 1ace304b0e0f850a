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


def tag_links(app: WebApp) -> list[str]:
    """The text of every link to a tag's search on the page, in order."""
    return [a.text for a in app.main().find_elements(By.CSS_SELECTOR, "a[href*='#/search?tag=']")]


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
    assert tag_links(app) == ["#harbour"], "the caption's hashtag is shown once, not again in a tags list"
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
        reader = ApiUser.sign_up(http, unique("kim"), "Kim Ashworth-Lindqvist")
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
    reply = app.main().find_elements(By.CSS_SELECTOR, "li.comment")[1]
    assert "reply" in reply.get_attribute("class")
    name = reply.find_element(By.CSS_SELECTOR, ".user-names strong")
    assert name.text == "Kim Ashworth-Lindqvist"
    assert app.js("return arguments[0].scrollWidth <= arguments[0].clientWidth", name), "the name is not cut short"
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


def test_each_tag_shows_once_and_a_hashtag_taken_out_of_the_caption_leaves_the_post(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        author = ApiUser.sign_up(http, unique("lea"), "Lea")
        photo = author.upload(
            scene_jpeg(320, 240, "noon", grain=4), "Regatta", tags=("sea", "#Regatta"), caption="Sails up #regatta"
        )
    app.open("#/signin")
    app.sign_in(author.username, PASSWORD)
    app.go(f"#/p/{photo['photoId']}")
    assert tag_links(app) == ["#regatta", "#sea"], "the caption's #regatta, then the tags it does not show"

    app.link("Edit post").click()
    app.browser.wait(lambda d: app.heading() == "Edit post")
    assert app.field("Tags").get_attribute("value") == "sea", "the caption's hashtags are the caption's"
    app.field("Caption").clear()
    app.field("Caption").send_keys("Sails down")
    app.button("Save").click()
    app.browser.wait(lambda d: app.heading() == "Regatta" and "Sails down" in app.text(), message="the edited post")
    assert tag_links(app) == ["#sea"], "a hashtag taken out of the caption is no longer a tag"


def test_only_the_owner_is_offered_the_edit_form(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        owner = ApiUser.sign_up(http, unique("max"), "Max")
        other = ApiUser.sign_up(http, unique("ned"), "Ned")
        photo = owner.upload(scene_jpeg(320, 240, "dawn", grain=4), "Not yours")
    app.open("#/signin")
    app.sign_in(other.username, PASSWORD)
    app.go(f"#/p/{photo['photoId']}/edit")
    assert app.heading() == "Edit post"
    assert "Only the person who posted it can edit a post." in app.text()
    assert not app.main().find_elements(By.CSS_SELECTOR, "form")
    app.link("Back to the post").click()
    app.browser.wait(lambda d: app.heading() == "Not yours", message="the post")
    app.go("#/p/1/edit")  # no such post
    assert app.heading() == "Photo not available"


def test_editing_an_album_shows_each_image_beside_its_alt_text(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        author = ApiUser.sign_up(http, unique("ora"), "Ora")
        album = author.post_album(
            [scene_jpeg(320, 240, "dawn", grain=4), scene_jpeg(320, 240, "noon", grain=12)], "Two tides", "Tides #shore"
        )
    app.open("#/signin")
    app.sign_in(author.username, PASSWORD)
    app.go(f"#/p/{album['photoId']}")
    assert tag_links(app) == ["#shore"], "on an album's page too, the caption's hashtag is shown once"
    app.link("Edit post").click()
    app.browser.wait(lambda d: app.heading() == "Edit post")
    media_ids = [image["mediaId"] for image in album["images"]]
    for n, media_id in enumerate(media_ids):
        box = app.field(f"Alt text for photo {n + 1}").find_element(By.XPATH, "ancestor::div[@class='alt-edit']")
        thumbnail = box.find_element(By.CSS_SELECTOR, "img.photo")
        assert thumbnail.get_attribute("data-media-id") == media_id
        app.browser.wait(lambda d, img=thumbnail: img.get_attribute("src"), message=f"photo {n + 1}'s thumbnail")
        app.field(f"Alt text for photo {n + 1}").send_keys(f"Tide {n + 1}")
    assert not app.capture("edit-album")
    app.button("Save").click()
    app.browser.wait(lambda d: "/edit" not in d.execute_script("return location.hash"), message="the post")
    assert app.heading() == "Two tides"
    shown = app.main().find_elements(By.CSS_SELECTOR, "ul.album img.photo")
    assert [img.get_attribute("alt") for img in shown] == ["Tide 1", "Tide 2"]


def test_an_album_steps_through_its_images_with_buttons(app: WebApp, gateway: str) -> None:
    """A mouse cannot swipe: Previous and Next move one image at a time and hide at either end."""
    with httpx.Client(base_url=gateway, timeout=30) as http:
        author = ApiUser.sign_up(http, unique("pia"), "Pia")
        album = author.post_album([scene_jpeg(320, 240, palette, grain=4) for palette in ("dawn", "noon")], "Steps")
    app.open("#/signin")
    app.sign_in(author.username, PASSWORD)
    app.go(f"#/p/{album['photoId']}")
    strip = app.main().find_element(By.CSS_SELECTOR, "ul.album")
    assert not app.main().find_element(By.CSS_SELECTOR, "button[aria-label='Previous image']").is_displayed()
    app.button("Next image").click()
    width = app.js("return arguments[0].clientWidth", strip)
    app.browser.wait(
        lambda d: app.js("return Math.round(arguments[0].scrollLeft)", strip) == width, message="the second image"
    )
    app.browser.wait(
        lambda d: not d.find_element(By.CSS_SELECTOR, "button[aria-label='Next image']").is_displayed(),
        message="Next hidden on the last image",
    )
    app.button("Previous image").click()
    app.browser.wait(lambda d: app.js("return arguments[0].scrollLeft", strip) == 0, message="back to the first")


def test_a_reply_to_a_deleted_comment_is_not_shown_under_another(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        owner = ApiUser.sign_up(http, unique("quin"), "Quin")
        reader = ApiUser.sign_up(http, unique("rae"), "Rae")
        photo = owner.upload(scene_jpeg(320, 240, "noon", grain=4), "Orphans")
        owner.comment(photo["photoId"], "kept thought")
        gone = owner.comment(photo["photoId"], "withdrawn thought")
        reader.comment(photo["photoId"], "an answer", reply_to=gone["commentId"])
        owner.delete_comment(photo["photoId"], gone["commentId"])
    app.open("#/signin")
    app.sign_in(reader.username, PASSWORD)
    app.go(f"#/p/{photo['photoId']}")
    app.wait_text("an answer")
    kept, answer = app.main().find_elements(By.CSS_SELECTOR, "li.comment")
    assert "reply" not in kept.get_attribute("class").split()
    assert "reply" not in answer.get_attribute("class").split(), "not indented under the kept comment"
    assert answer.text.startswith("Reply to a deleted comment")
