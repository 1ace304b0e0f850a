"""Headers the gateway reads: Grpc-Timeout (parsed per the gRPC spec, clamped), Authorization
(bounded before it becomes gRPC metadata) and Idempotency-Key (sets the request's idempotency_key)."""

from __future__ import annotations

import grpc
import pytest
from starlette.requests import Request

from gateway.backends import MAX_AUTHORIZATION_BYTES, call_metadata, call_timeout
from gateway.errors import GatewayError
from gateway.routes import Router, routes_for
from gateway.transcoding import apply_idempotency_key, build_request
from services.runtime.topology import CONTRACTS
from shutter.photo.v1 import photo_pb2

ROUTER = Router(routes_for(CONTRACTS))


def request_with(**headers: str) -> Request:
    raw = [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "state": {"request_id": "r1"}})


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("30S", 30.0), ("1M", 60.0), ("250m", 0.25), ("5u", 5e-6), ("7n", 7e-9), ("1H", 300.0), ("99999999H", 300.0),
     ("99999999S", 300.0), ("00000001S", 1.0)],
)  # fmt: skip
def test_grpc_timeout_is_read_per_the_spec_and_clamped(header: str, seconds: float) -> None:
    assert call_timeout(request_with(grpc_timeout=header), 10.0, 300.0) == pytest.approx(seconds)


def test_no_grpc_timeout_means_the_default() -> None:
    assert call_timeout(request_with(), 10.0, 300.0) == 10.0


@pytest.mark.parametrize(
    "header", ["", "S", "30", "30s", "30 S", " 30S", "123456789S", "+3S", "1.5S", "\u0663S", "\u00b2S", "3SS"]
)
def test_a_malformed_grpc_timeout_is_400_naming_the_header(header: str) -> None:
    with pytest.raises(GatewayError) as caught:
        call_timeout(request_with(grpc_timeout=header), 10.0, 300.0)
    assert caught.value.http == 400 and caught.value.violations[0][0] == "grpc-timeout"


def test_an_oversized_authorization_header_is_431_before_any_call() -> None:
    token = "Bearer " + "x" * (MAX_AUTHORIZATION_BYTES - 7)
    assert call_metadata(request_with(authorization=token))[1] == ("authorization", token)
    with pytest.raises(GatewayError) as caught:
        call_metadata(request_with(authorization=token + "x"))
    assert caught.value.http == 431 and caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(MAX_AUTHORIZATION_BYTES) in caught.value.message


def test_the_idempotency_key_header_sets_the_field() -> None:
    for header in ("k-1", '"k-1"'):  # bare, as Stripe; a quoted string, as the IETF draft
        metadata = photo_pb2.PhotoMetadata()
        apply_idempotency_key(metadata, header, "metadata.idempotency_key")
        assert metadata.idempotency_key == "k-1"
    same = photo_pb2.PhotoMetadata(idempotency_key="k-1")
    apply_idempotency_key(same, "k-1", "metadata.idempotency_key")
    assert same.idempotency_key == "k-1"
    untouched = photo_pb2.PhotoMetadata(idempotency_key="form")
    apply_idempotency_key(untouched, None, "metadata.idempotency_key")
    assert untouched.idempotency_key == "form"


@pytest.mark.parametrize("header", ["", '""', "caf\u00e9", "a\tb", 'a"b', "a\\b"])
def test_a_malformed_idempotency_key_header_is_400(header: str) -> None:
    with pytest.raises(GatewayError) as caught:
        apply_idempotency_key(photo_pb2.PhotoMetadata(), header, "metadata.idempotency_key")
    assert caught.value.violations[0][0] == "metadata.idempotency_key"


def test_header_and_field_that_differ_are_400() -> None:
    with pytest.raises(GatewayError) as caught:
        apply_idempotency_key(photo_pb2.PhotoMetadata(idempotency_key="a"), "b", "metadata.idempotency_key")
    assert caught.value.violations == (
        ("metadata.idempotency_key", "the Idempotency-Key header and the idempotency_key field differ"),
    )


def test_requests_without_the_field_ignore_the_header() -> None:
    get_photo = next(route for route in ROUTER.routes if route.method.name == "GetPhoto")
    request = build_request(get_photo, {"photo_id": "5"}, [], None, {"idempotency-key": "k"})
    assert request == photo_pb2.GetPhotoRequest(photo_id=5)
