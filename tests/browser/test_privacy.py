"""A private account in the browser: the owner switches it on in settings, a stranger sees "This account
is private" and asks to follow ("Requested"), the owner approves on the follow-requests page, and the
follower then sees the photos. Then the profile's More menu blocks, and the blocked list unblocks."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By

from tests.browser.people import PASSWORD, ApiUser, unique
from tests.browser.scenes import scene_jpeg
from tests.support.browser import WebApp


def test_private_account_request_and_approve(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        owner = ApiUser.sign_up(http, unique("gia"), "Gia Private")
        fan = ApiUser.sign_up(http, unique("hal"), "Hal Fan")
        photo = owner.upload(scene_jpeg(640, 480), "Quiet garden")

    # The owner makes the account private in settings.
    app.open("#/signin")
    app.sign_in(owner.username, PASSWORD)
    app.go("#/settings")
    app.browser.wait(lambda d: app.heading() == "Edit profile")
    switch = app.field("Private account")
    assert not switch.is_selected()
    switch.click()
    app.wait_text("Your account is private")
    assert not app.capture("settings-private")

    # A stranger sees the profile's name but not its photos, and asks to follow.
    app.sign_out()
    app.sign_in(fan.username, PASSWORD)
    app.go(f"#/u/{owner.username}")
    app.browser.wait(lambda d: app.heading() == "Gia Private")
    assert "This account is private" in app.text()
    assert not app.main().find_elements(By.CSS_SELECTOR, f".grid a[href='#/p/{photo['photoId']}']")
    app.button("Follow").click()
    app.browser.wait(lambda d: app.button("Requested"))
    assert "0 followers" in app.text()
    assert not app.capture("profile-requested")

    # The owner approves on the follow-requests page.
    app.sign_out()
    app.sign_in(owner.username, PASSWORD)
    app.go("#/requests")
    app.browser.wait(lambda d: app.heading() == "Follow requests")
    assert "Hal Fan" in app.text()
    assert not app.capture("follow-requests")
    app.button("Approve").click()
    app.browser.wait(lambda d: "Hal Fan" not in app.text())

    # The follower now follows, and sees the photos.
    app.sign_out()
    app.sign_in(fan.username, PASSWORD)
    app.go(f"#/u/{owner.username}")
    app.browser.wait(lambda d: app.button("Unfollow"))
    assert "1 follower" in app.text()
    assert app.main().find_element(By.CSS_SELECTOR, f".grid a[href='#/p/{photo['photoId']}'] img")

    # Blocking from the profile's More menu; the blocked list unblocks.
    app.main().find_element(By.CSS_SELECTOR, ".profile-menu summary").click()
    app.button("Block").click()
    app.browser.wait(lambda d: app.button("Unblock"))
    app.go("#/settings/blocked")
    app.browser.wait(lambda d: app.heading() == "Blocked accounts")
    assert "Gia Private" in app.text()
    app.button("Unblock").click()
    app.browser.wait(lambda d: "Gia Private" not in app.text())
