"""Albums through HTTP: media uploaded as forms, a post made from them as JSON, each image downloadable,
and bad albums answered 400 naming the field."""

from __future__ import annotations

import hashlib

import httpx

from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, make_png
from tests.support.rich_status import field_violations
from tests.support.users import sign_up


async def post_media(http: httpx.AsyncClient, headers: dict[str, str], data: bytes, alt_text: str) -> dict:
    uploaded = await http.post(
        "/v1/media", data={"altText": alt_text}, files={"file": ("image", data, "image/jpeg")}, headers=headers
    )
    assert uploaded.status_code == 200, uploaded.text
    return uploaded.json()


async def test_an_album_over_http(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    pictures = [make_jpeg(300, 200), make_png(120, 80)]
    media = [await post_media(http, account.headers, data, f"alt {n}") for n, data in enumerate(pictures)]
    assert media[0]["created"] is True and media[0]["expiresAt"]
    ids = [m["media"]["mediaId"] for m in media]

    created = await http.post(
        "/v1/posts",
        json={
            "metadata": {"title": "two", "tags": ["pair"]},
            "images": [{"mediaId": ids[1], "altText": "a small png"}, {"mediaId": ids[0]}],
        },
        headers=account.headers,
    )

    assert created.status_code == 200, created.text
    photo = created.json()["photo"]
    assert [(i["mediaId"], i["altText"]) for i in photo["images"]] == [(ids[1], "a small png"), (ids[0], "alt 0")]
    assert photo["sha256"] == hashlib.sha256(pictures[1]).hexdigest()  # the first image fills the old fields
    got = await http.get(f"/v1/photos/{photo['photoId']}", headers=account.headers)
    assert got.json()["photo"] == photo
    for media_id, data in ((ids[0], pictures[0]), (ids[1], pictures[1])):
        content = await http.get(
            f"/v1/photos/{photo['photoId']}/content",
            params={"variant": "PHOTO_VARIANT_ORIGINAL", "mediaId": media_id},
            headers=account.headers,
        )
        assert content.status_code == 200 and content.content == data


async def test_bad_albums_over_http_are_400_naming_the_field(http: httpx.AsyncClient, mesh: Mesh) -> None:
    account = await sign_up(mesh, sign_in=False)
    media_id = (await post_media(http, account.headers, make_jpeg(16, 16), ""))["media"]["mediaId"]
    cases = [
        ({"images": [{"mediaId": media_id}] * 11}, "images"),
        ({"images": []}, "images"),
        ({"images": [{"mediaId": media_id, "altText": "a" * 1501}]}, "images[0].alt_text"),
        ({"images": [{"mediaId": "123456789"}]}, "images[0].media_id"),
    ]
    for body, field in cases:
        answer = await http.post("/v1/posts", json=body, headers=account.headers)
        assert field in field_violations(answer), (field, answer.text)
    too_long = await http.post(
        "/v1/media", data={"altText": "b" * 1501}, files={"file": ("i", make_jpeg(8, 8), "image/jpeg")},
        headers=account.headers,
    )  # fmt: skip
    assert "metadata.alt_text" in field_violations(too_long)


async def test_a_caption_over_http_tags_and_mentions(http: httpx.AsyncClient, mesh: Mesh) -> None:
    author, friend = await sign_up(mesh, sign_in=False), await sign_up(mesh, sign_in=False)
    form = {"caption": f"Pier at dusk #Brest\nwith @{friend.username}", "altText": "a pier", "tags": ["sea"]}

    posted = await http.post(
        "/v1/photos", data=form, files={"file": ("p.jpg", make_jpeg(40, 30), "image/jpeg")}, headers=author.headers
    )

    assert posted.status_code == 200, posted.text
    photo = posted.json()["photo"]
    assert (photo["caption"], photo["tags"], photo["mentionedUserIds"]) == (
        form["caption"],
        ["sea", "Brest"],
        [str(friend.user_id)],
    )
    assert photo["images"][0]["altText"] == "a pier"
    refused = await http.post(
        "/v1/photos",
        data={"caption": "hi @nobody_at_all_here"},
        files={"file": ("p.jpg", make_jpeg(8, 8), "image/jpeg")},
        headers=author.headers,
    )
    assert list(field_violations(refused)) == ["metadata.caption"]
