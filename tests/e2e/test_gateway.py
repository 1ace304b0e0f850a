"""The HTTP gateway in front of the real mesh: routing, status mapping, auth and request ids."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from google.protobuf.descriptor import FieldDescriptor

from gateway.routes import Route, routes_for
from services.runtime.auth import TokenAuthority, is_public
from services.runtime.topology import CONTRACTS
from tests.support.mesh import AUTH_SECRET, Mesh
from tests.support.rich_status import field_violations
from tests.support.users import DEFAULT_PASSWORD, SLOW, SignedUp, sign_up, sign_up_over_http
from tests.support.waiting import eventually

ROUTES = routes_for(CONTRACTS)


def concrete_path(route: Route) -> str:
    """The route's template with every variable set to 1."""
    return re.sub(r"\{[^}]*\}", "1", route.template.openapi_path())


def minimal_body(route: Route) -> dict[str, str] | None:
    """A PATCH must set some field, or the gateway refuses it before the service (nothing to update)."""
    if route.http_method != "PATCH":
        return None
    settable = (
        field
        for field in route.method.input_type.fields
        if field.name not in route.bound_fields and field.type == FieldDescriptor.TYPE_STRING
    )
    return {next(settable).json_name: "x"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_status_body(response: httpx.Response, code: int) -> dict:
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


def assert_not_the_router(response: httpx.Response) -> None:
    """The answer came from a service, not from the gateway failing to route."""
    assert response.status_code != 405, response.text
    if response.status_code == 404:
        assert not response.json()["message"].startswith("no route"), response.text


@pytest.fixture(scope="module")
async def caller(mesh: Mesh) -> SignedUp:
    """Someone signed in, for calls whose answer does not depend on who asks (beyond being someone)."""
    return await sign_up(mesh, sign_in=False)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.http_method} {r.template.text}" for r in ROUTES])
async def test_every_annotated_rpc_is_reachable(http: httpx.AsyncClient, caller: SignedUp, route: Route) -> None:
    path = concrete_path(route)
    anonymous = await http.request(route.http_method, path, json=minimal_body(route))
    assert_not_the_router(anonymous)
    if is_public(route.grpc_path):
        assert anonymous.status_code == 400  # reached the service, which wants a username and password
    else:
        assert anonymous.status_code == 401, anonymous.text
        assert_status_body(anonymous, 16)
    authorised = await http.request(route.http_method, path, json=minimal_body(route), headers=caller.headers)
    assert_not_the_router(authorised)
    assert authorised.status_code != 401, authorised.text
    assert authorised.status_code < 500, authorised.text


async def test_router_answers_unknown_paths_and_wrong_methods(http: httpx.AsyncClient) -> None:
    missing = await http.get("/v1/nothing/here")
    assert missing.status_code == 404
    assert_status_body(missing, 5)
    # A newline in a path (schemathesis sent one) is answered by the gateway too, never by Starlette's plain 404.
    for path in ("/v1/usernames/a%0Ab", "/v1/nothing%0Ahere"):
        odd = await http.get(path)
        assert odd.headers["content-type"] == "application/json", (path, odd.text)
        assert odd.status_code in (400, 401, 404) and odd.json()["code"] in (3, 5, 16), (path, odd.text)
    wrong = await http.put("/v1/users/1")
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}


async def test_tokens_are_forwarded_and_verified_by_the_services(http: httpx.AsyncClient, mesh: Mesh) -> None:
    forged = TokenAuthority("another-secret-" + "y" * 40, 3600).issue_user_token(1)[0]
    expired = TokenAuthority(AUTH_SECRET, -120).issue_user_token(1)[0]
    for headers in ({}, bearer(forged), bearer(expired), {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = await http.get("/v1/users/1", headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert_status_body(response, 16)
    assert "expired" in (await http.get("/v1/users/1", headers=bearer(expired))).json()["message"]


async def test_sign_up_sign_in_and_act_through_http(http: httpx.AsyncClient) -> None:
    alice_id, alice_name, alice = await sign_up_over_http(http, "alice")
    bob_id, _, bob = await sign_up_over_http(http, "bob")

    me = await http.get(f"/v1/usernames/{alice_name}", headers=bearer(bob))
    assert me.status_code == 200 and me.json()["user"]["userId"] == alice_id
    both = await http.get(f"/v1/users:batchGet?userIds={alice_id}&userIds={bob_id}", headers=bearer(alice))
    assert [u["userId"] for u in both.json()["users"]] == [alice_id, bob_id]

    # body "*" plus a path variable: Follow(follower_id from the path, followee_id from the body)
    followed = await http.post(f"/v1/users/{alice_id}/following", json={"followeeId": bob_id}, headers=bearer(alice))
    assert followed.status_code == 200, followed.text
    listed = await http.get(f"/v1/users/{alice_id}/following", params={"pageSize": 10}, headers=bearer(alice))
    assert listed.status_code == 200, listed.text
    assert bob_id in listed.text
    checked = await http.get(
        f"/v1/users/{alice_id}/following:check", params={"followeeIds": [bob_id]}, headers=bearer(alice)
    )
    assert checked.status_code == 200 and bob_id in checked.text

    renamed = await http.patch(f"/v1/users/{alice_id}", json={"displayName": "Alice A."}, headers=bearer(alice))
    assert renamed.status_code == 200 and renamed.json()["user"]["displayName"] == "Alice A."


async def test_service_statuses_map_to_http(http: httpx.AsyncClient) -> None:
    alice_id, alice_name, alice = await sign_up_over_http(http, "carol")
    bob_id, _, bob = await sign_up_over_http(http, "dave")

    invalid = await http.post("/v1/users", json={"username": "", "password": ""})
    assert invalid.status_code == 400
    details = assert_status_body(invalid, 3)["details"]
    assert details[0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert "username" in {violation["field"] for violation in details[0]["fieldViolations"]}

    taken = await http.post("/v1/users", json={"username": alice_name, "password": DEFAULT_PASSWORD}, headers=SLOW)
    assert taken.status_code == 409
    assert_status_body(taken, 6)

    denied = await http.patch(f"/v1/users/{bob_id}", json={"displayName": "not Bob"}, headers=bearer(alice))
    assert denied.status_code == 403
    assert_status_body(denied, 7)
    unchanged = await http.get(f"/v1/users/{bob_id}", headers=bearer(bob))
    assert unchanged.json()["user"]["displayName"] == "dave"

    missing = await http.get("/v1/users/999999999999", headers=bearer(alice))
    assert missing.status_code == 404
    assert not assert_status_body(missing, 5)["message"].startswith("no route")

    wrong_password = await http.post(
        "/v1/auth/token", json={"username": alice_name, "password": "nope" * 3}, headers=SLOW
    )
    assert wrong_password.status_code == 401
    assert alice_id


async def test_malformed_requests_get_useful_400s(http: httpx.AsyncClient, caller: SignedUp) -> None:
    token = caller.headers
    broken = await http.post("/v1/users", content=b'{"username": "x",', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    body = assert_status_body(broken, 3)
    assert "JSON" in body["message"]
    assert list(field_violations(broken)) == ["body"]

    wrong_type = await http.post("/v1/users", json={"username": ["not", "a", "string"]})
    assert wrong_type.status_code == 400 and "username" in wrong_type.json()["message"]

    bad_path = await http.get("/v1/users/not-a-number", headers=token)
    assert bad_path.status_code == 400
    assert_status_body(bad_path, 3)
    assert list(field_violations(bad_path)) == ["user_id"]

    bad_query = await http.get("/v1/users/1/photos?pageSize=lots", headers=token)
    assert bad_query.status_code == 400 and "page_size" in bad_query.json()["message"]


async def test_request_ids_are_forwarded_or_made(http: httpx.AsyncClient, mesh: Mesh, caller: SignedUp) -> None:
    request_id = f"e2e-{uuid.uuid4().hex}"
    response = await http.get("/v1/users/1", headers={**caller.headers, "X-Request-Id": request_id})
    assert response.headers["x-request-id"] == request_id
    # The service logs the RPC under the same id (the line is written just after it answers).
    await eventually(lambda: request_id in mesh.log_tail("user", 2000), timeout=5)
    made = await http.get("/v1/users/1")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    # An id gRPC metadata cannot carry (or a log should not) is replaced, not forwarded into a 500.
    odd = await http.get("/v1/users/1", headers={**caller.headers, "X-Request-Id": "a b\u00e9".encode("latin-1")})
    assert odd.status_code == response.status_code and re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])


async def test_an_authorization_header_grpc_cannot_carry_is_401(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/users/1", headers={"Authorization": "Bearer caf\u00e9".encode("latin-1")})
    assert response.status_code == 401, response.text
    assert response.json()["code"] == 16


async def test_health_and_openapi(http: httpx.AsyncClient) -> None:
    health = await http.get("/healthz")
    assert health.status_code == 200
    assert set(health.json()["services"]) == set(CONTRACTS)
    document = await http.get("/openapi.json")
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
