"""Notifications and the privacy rules through the gateway, as the web client sees them: a mention of someone
who blocked the author is posted but notifies no one, an edit notifies only whom it newly mentions, and a
follow request shows as NOTIFICATION_TYPE_FOLLOW_REQUESTED until approved, when the follow takes its place."""

from __future__ import annotations

import httpx

from tests.support.photos import make_jpeg
from tests.support.users import HttpUser, sign_up_over_http
from tests.support.waiting import eventually

MENTION, LIKE = "NOTIFICATION_TYPE_MENTION", "NOTIFICATION_TYPE_LIKE"
FOLLOW, FOLLOW_REQUESTED = "NOTIFICATION_TYPE_FOLLOW", "NOTIFICATION_TYPE_FOLLOW_REQUESTED"


async def shown(http: httpx.AsyncClient, user: HttpUser) -> list[tuple[str, str, tuple[str, ...]]]:
    """The user's notification groups as (type, photo, actors), newest first."""
    answer = await http.get(f"/v1/users/{user.user_id}/notifications", headers=user.headers)
    assert answer.status_code == 200, answer.text
    return [
        (group["type"], group.get("photoId", "0"), tuple(group.get("latestActorIds", [])))
        for group in answer.json().get("groups", [])
    ]


async def post(http: httpx.AsyncClient, author: HttpUser, caption: str) -> dict:
    answer = await http.post(
        "/v1/photos",
        data={"caption": caption},
        files={"file": ("p.jpg", make_jpeg(24, 24), "image/jpeg")},
        headers=author.headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["photo"]


async def test_mentions_edits_and_a_follow_request_notify_over_http(http: httpx.AsyncClient) -> None:
    author, blocker, ada, carol = [
        await sign_up_over_http(http, name) for name in ("author", "blocker", "ada", "carol")
    ]
    blocked = await http.put(f"/v1/users/{blocker.user_id}/blocks/{author.user_id}", json={}, headers=blocker.headers)
    assert blocked.status_code == 200, blocked.text

    photo = await post(http, author, f"@{blocker.username} and @{ada.username}")
    assert photo["mentionedUserIds"] == [blocker.user_id, ada.user_id]  # posted as written: no block revealed
    edited = await http.patch(
        f"/v1/photos/{photo['photoId']}",
        json={"caption": f"@{blocker.username}, @{ada.username} and @{carol.username}", "updateMask": "caption"},
        headers=author.headers,
    )
    assert edited.status_code == 200, edited.text
    mentioned = [(MENTION, photo["photoId"], (author.user_id,))]

    async def carol_mentioned() -> None:
        assert await shown(http, carol) == mentioned

    await eventually(carol_mentioned, timeout=30)  # the edit's new mention: handled after the post's
    assert await shown(http, ada) == mentioned  # once, not again for the edit

    # Unblocked (the author's list shows the blocker's like: the notification service knows), a new mention
    # of the blocker arrives; the one made during the block never does.
    await http.delete(f"/v1/users/{blocker.user_id}/blocks/{author.user_id}", headers=blocker.headers)
    liked = await http.put(f"/v1/photos/{photo['photoId']}/likes/{blocker.user_id}", headers=blocker.headers)
    assert liked.status_code == 200, liked.text

    async def like_shown() -> None:
        assert await shown(http, author) == [(LIKE, photo["photoId"], (blocker.user_id,))]

    await eventually(like_shown, timeout=30)
    again = await post(http, author, f"again @{blocker.username}")

    async def only_the_new_mention() -> None:
        assert await shown(http, blocker) == [(MENTION, again["photoId"], (author.user_id,))]

    await eventually(only_the_new_mention, timeout=30)

    # A follow request to a private account, then its approval.
    made = await http.put(f"/v1/users/{carol.user_id}/privacy", json={"private": True}, headers=carol.headers)
    assert made.status_code == 200, made.text
    asked = await http.post(
        f"/v1/users/{ada.user_id}/following", json={"followeeId": carol.user_id}, headers=ada.headers
    )
    assert asked.json().get("pending") is True, asked.text

    async def request_shown() -> None:
        assert await shown(http, carol) == [(FOLLOW_REQUESTED, "0", (ada.user_id,)), *mentioned]

    await eventually(request_shown, timeout=30)
    approved = await http.post(
        f"/v1/users/{carol.user_id}/follow-requests/{ada.user_id}:approve", json={}, headers=carol.headers
    )
    assert approved.status_code == 200, approved.text

    async def follow_shown() -> None:
        assert await shown(http, carol) == [(FOLLOW, "0", (ada.user_id,)), *mentioned]

    await eventually(follow_shown, timeout=30)
