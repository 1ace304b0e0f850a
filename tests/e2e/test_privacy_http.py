"""The privacy and safety RPCs through the gateway, as the web client calls them: every new route, its
JSON, and its refusals (google.rpc.Status bodies with the field named)."""

from __future__ import annotations

import httpx

from tests.support.rich_status import field_violations
from tests.support.users import HttpUser, sign_up_over_http


async def test_a_private_account_its_requests_blocks_and_mutes_over_http(http: httpx.AsyncClient) -> None:
    owner = await sign_up_over_http(http, "owner")
    fan = await sign_up_over_http(http, "fan")
    other = await sign_up_over_http(http, "other")

    async def call(method: str, path: str, user: HttpUser, body: object = None) -> httpx.Response:
        return await http.request(method, path, headers=user.headers, json=body)

    made = await call("PUT", f"/v1/users/{owner.user_id}/privacy", owner, {"private": True})
    assert made.status_code == 200 and made.json()["private"] is True, made.text

    asked = await call("POST", f"/v1/users/{fan.user_id}/following", fan, {"followeeId": owner.user_id})
    assert asked.status_code == 200 and asked.json().get("pending") is True, asked.text
    await call("POST", f"/v1/users/{other.user_id}/following", other, {"followeeId": owner.user_id})
    relation = await http.get(
        f"/v1/users/{fan.user_id}/relationships", params={"userIds": owner.user_id}, headers=fan.headers
    )
    assert relation.json()["relationships"][0] == {
        "userId": owner.user_id,
        "private": True,
        "following": False,
        "requested": True,
        "blocking": False,
        "muting": False,
        "followedBy": False,
    }

    waiting = await http.get(f"/v1/users/{owner.user_id}/follow-requests", headers=owner.headers)
    assert [r["requesterId"] for r in waiting.json()["requests"]] == [other.user_id, fan.user_id]
    approved = await call("POST", f"/v1/users/{owner.user_id}/follow-requests/{fan.user_id}:approve", owner, {})
    assert approved.status_code == 200 and approved.json()["follow"]["followerId"] == fan.user_id, approved.text
    again = await call("POST", f"/v1/users/{owner.user_id}/follow-requests/{fan.user_id}:approve", owner, {})
    assert again.status_code == 404, again.text
    withdrawn = await call("DELETE", f"/v1/users/{other.user_id}/follow-requests-sent/{owner.user_id}", other)
    assert withdrawn.json() == {"removed": True}
    rejected = await call("POST", f"/v1/users/{owner.user_id}/follow-requests/{other.user_id}:reject", owner, {})
    assert rejected.status_code == 404  # withdrawn already: nothing to reject
    followers = await http.get(f"/v1/users/{owner.user_id}/followers", headers=other.headers)
    assert followers.status_code == 403  # a private account's lists are for its approved followers

    blocked = await call("PUT", f"/v1/users/{owner.user_id}/blocks/{other.user_id}", owner, {})
    assert blocked.json() == {"created": True}
    muted = await call("PUT", f"/v1/users/{fan.user_id}/mutes/{owner.user_id}", fan, {})
    assert muted.json() == {"created": True}
    blocks = await http.get(f"/v1/users/{owner.user_id}/blocks", headers=owner.headers)
    assert [u["userId"] for u in blocks.json()["users"]] == [other.user_id]
    mutes = await http.get(f"/v1/users/{fan.user_id}/mutes", headers=fan.headers)
    assert [u["userId"] for u in mutes.json()["users"]] == [owner.user_id]
    hidden = await http.get(f"/v1/users/{owner.user_id}", headers=other.headers)
    assert hidden.status_code == 404  # blocked: as if the account were not there
    assert (await call("DELETE", f"/v1/users/{owner.user_id}/blocks/{other.user_id}", owner)).json() == {
        "removed": True
    }
    assert (await call("DELETE", f"/v1/users/{fan.user_id}/mutes/{owner.user_id}", fan)).json() == {"removed": True}

    yourself = await call("PUT", f"/v1/users/{owner.user_id}/blocks/{owner.user_id}", owner, {})
    assert field_violations(yourself) == {"blocked_id": "cannot block yourself"}
    for_someone_else = await call("PUT", f"/v1/users/{fan.user_id}/privacy", owner, {"private": True})
    assert for_someone_else.status_code == 403
    bulk = await call(
        "POST", "/v1/relationships:batchGet", owner, {"pairs": [{"viewerId": fan.user_id, "authorId": owner.user_id}]}
    )
    assert bulk.status_code == 403  # who blocked whom is for services only

    public = await call("PUT", f"/v1/users/{owner.user_id}/privacy", owner, {"private": False})
    assert public.json() == {"private": False, "approvedRequests": 0}  # no request was left to approve
