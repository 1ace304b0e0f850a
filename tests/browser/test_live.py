"""What arrives while you look: the bell's unread count rising as people like your photo, the grouped
notification list ("… and 2 others liked your photo") clearing the count once seen, and "new posts" on
the home feed without a reload. The other people act over the API; nothing here reloads the page."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By

from tests.browser.people import PASSWORD, ApiUser, unique
from tests.browser.scenes import scene_jpeg
from tests.support.browser import WebApp

BELL_NAME = """
const link = document.querySelector('#nav a[href="#/notifications"]');
return [...link.children].filter((part) => part.getAttribute('aria-hidden') !== 'true')
  .map((part) => part.textContent).join('');
"""


def bell(app: WebApp) -> str:
    """What the bell link says to a screen reader: its words, without the badge (hidden from them)."""
    return app.js(BELL_NAME)


def test_the_bell_counts_likes_live_and_the_list_groups_them(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        owner = ApiUser.sign_up(http, unique("olga"), "Olga")
        fans = [ApiUser.sign_up(http, unique("fan"), f"Fan {n}") for n in range(3)]
        photo = owner.upload(scene_jpeg(480, 360, "noon", grain=4), "Harbour", "Porto")

        app.open("#/signin")
        app.sign_in(owner.username, PASSWORD)
        assert bell(app) == "Alerts"
        for fan in fans:
            fan.like(photo["photoId"])
    app.browser.wait(lambda d: bell(app) == "Alerts, 3 unread", message="the bell to count three likes")
    badge = app.driver.find_element(By.CSS_SELECTOR, "#nav .badge")
    assert badge.is_displayed() and badge.text == "3"
    assert app.js("return location.hash") == "#/"  # still on the page it was: no reload, no navigation
    assert not app.capture("bell")

    app.driver.find_element(By.CSS_SELECTOR, '#nav a[href="#/notifications"]').click()
    app.wait_ready()
    assert app.heading() == "Notifications"
    [item] = app.main().find_elements(By.CSS_SELECTOR, "li.notification")
    assert "Fan 2" in item.text and "and 2 others" in item.text and "liked your photo" in item.text
    assert not app.capture("notifications")
    app.browser.wait(lambda d: bell(app) == "Alerts", message="the count to clear once seen")
    assert not app.driver.find_element(By.CSS_SELECTOR, "#nav .badge").is_displayed()


def test_new_posts_appear_on_the_feed_without_a_reload(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        author = ApiUser.sign_up(http, unique("nora"), "Nora")
        reader = ApiUser.sign_up(http, unique("paul"), "Paul")
        reader.follow(author)
        author.upload(scene_jpeg(480, 360, "noon", grain=4), "Morning", "Lisbon")
        app.open("#/signin")
        app.sign_in(reader.username, PASSWORD)
        app.until_shown("#/", lambda: "Morning" in app.text())
        jpeg = scene_jpeg(480, 360, "dawn", grain=4)
        author.upload(jpeg, "Noon", "Lisbon")
        author.upload(jpeg, "Evening", "Lisbon")
    announce = app.browser.wait(
        lambda d: next((b for b in d.find_elements(By.CSS_SELECTOR, "button.new-posts") if b.is_displayed()), False),
        message="the new-posts button",
    )
    app.browser.wait(lambda d: announce.text == "Show 2 new posts", message="both posts counted")
    assert "Evening" not in app.text()  # announced, not yet shown
    assert not app.capture("new-posts")
    announce.click()
    app.wait_ready()
    titles = [h2.text for h2 in app.main().find_elements(By.CSS_SELECTOR, "article.post h2")]
    assert titles[:3] == ["Evening", "Noon", "Morning"]
