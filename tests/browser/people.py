"""Setting the stage over the REST API (httpx), for what a test does not need to click through:
people who already exist, photos already posted, follows already made."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery"


def unique(prefix: str) -> str:
    """A username nobody else in the session has."""
    return f"{prefix}{secrets.token_hex(4)}"


@dataclass
class ApiUser:
    http: httpx.Client
    user_id: str
    username: str
    token: str

    @classmethod
    def sign_up(cls, http: httpx.Client, username: str, display_name: str = "") -> ApiUser:
        created = http.post("/v1/users", json={"username": username, "password": PASSWORD, "displayName": display_name})
        assert created.status_code == 200, created.text
        signed_in = http.post("/v1/auth/token", json={"username": username, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        body = signed_in.json()
        return cls(http, body["user"]["userId"], username, body["accessToken"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def upload(
        self, jpeg: bytes, title: str, location: str = "", tags: tuple[str, ...] = (), caption: str = ""
    ) -> dict:
        data = {"userId": self.user_id, "title": title, "location": location, "tags": list(tags), "caption": caption}
        answer = self.http.post(
            "/v1/photos", data=data, files={"file": ("photo.jpg", jpeg, "image/jpeg")}, headers=self.headers
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["photo"]

    def post_album(self, jpegs: list[bytes], title: str, caption: str = "") -> dict:
        """Each image up first (POST /v1/media), then the post made of them (POST /v1/posts)."""
        media_ids = []
        for jpeg in jpegs:
            answer = self.http.post(
                "/v1/media",
                data={"idempotencyKey": secrets.token_hex(8)},
                files={"file": ("photo.jpg", jpeg, "image/jpeg")},
                headers=self.headers,
            )
            assert answer.status_code == 200, answer.text
            media_ids.append(answer.json()["media"]["mediaId"])
        metadata = {"userId": self.user_id, "title": title, "caption": caption}
        body = {"metadata": metadata, "images": [{"mediaId": media_id} for media_id in media_ids]}
        answer = self.http.post("/v1/posts", json=body, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["photo"]

    def follow(self, other: ApiUser) -> None:
        answer = self.http.post(
            f"/v1/users/{self.user_id}/following", json={"followeeId": other.user_id}, headers=self.headers
        )
        assert answer.status_code == 200, answer.text

    def comment(self, photo_id: str, text: str, reply_to: str = "") -> dict:
        body = {"userId": self.user_id, "text": text} | ({"replyTo": reply_to} if reply_to else {})
        answer = self.http.post(f"/v1/photos/{photo_id}/comments", json=body, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["comment"]

    def delete_comment(self, photo_id: str, comment_id: str) -> None:
        answer = self.http.delete(f"/v1/photos/{photo_id}/comments/{comment_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text

    def like(self, photo_id: str) -> None:
        answer = self.http.put(f"/v1/photos/{photo_id}/likes/{self.user_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
