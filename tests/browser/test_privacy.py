"""A private account in the browser: the owner switches it on in settings, a stranger sees "This account
is private" and asks to follow ("Requested"), the owner approves on the follow-requests page, and the
follower then sees the photos. Then the profile's More menu blocks, and the blocked list unblocks. A
request also shows among the owner's notifications, answered there with Approve or Decline."""

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


def notification_about(app: WebApp, name: str) -> str:
    """The text of the notification line naming `name` ("" when there is none)."""
    lines = [li.text for li in app.main().find_elements(By.CSS_SELECTOR, "li.notification") if name in li.text]
    return lines[0] if lines else ""


def test_a_follow_request_is_answered_from_the_notifications(app: WebApp, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        owner = ApiUser.sign_up(http, unique("ivy"), "Ivy Private")
        fan = ApiUser.sign_up(http, unique("jon"), "Jon Fan")
        pest = ApiUser.sign_up(http, unique("kit"), "Kit Pest")
        made = http.put(f"/v1/users/{owner.user_id}/privacy", json={"private": True}, headers=owner.headers)
        assert made.status_code == 200, made.text
        fan.follow(owner)  # pending: the account is private
        pest.follow(owner)

    app.open("#/signin")
    app.sign_in(owner.username, PASSWORD)
    app.until_shown(
        "#/notifications",
        lambda: all("asked to follow you" in notification_about(app, name) for name in ("Jon Fan", "Kit Pest")),
    )
    assert not app.capture("notifications-follow-requests")

    app.button("Approve Jon Fan").click()
    app.browser.wait(
        lambda d: "started following you" in notification_about(app, "Jon Fan"), message="the request became a follow"
    )
    assert not app.main().find_elements(By.XPATH, ".//button[@aria-label='Approve Jon Fan']")
    app.button("Decline Kit Pest").click()
    app.browser.wait(lambda d: not notification_about(app, "Kit Pest"), message="the declined request to go")

    # As the server has it now: the follow (as any follow reads), no request left to answer.
    app.until_shown(
        "#/notifications",
        lambda: "started following you" in notification_about(app, "Jon Fan") and not notification_about(app, "Kit"),
    )
    assert "asked to follow you" not in app.text()
    app.go("#/requests")
    app.browser.wait(lambda d: app.heading() == "Follow requests")
    assert "No one is waiting for your approval." in app.text()
