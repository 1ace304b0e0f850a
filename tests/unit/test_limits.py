"""The pure parts of the abuse limits: rates, addresses, who may vouch for a client, and the answers' figures."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from starlette.requests import Request

from gateway.backends import call_metadata, client_address
from gateway.errors import ratelimit_headers
from services.runtime.config import LimitSettings
from services.runtime.errors import unpacked
from services.runtime.limits import (
    CLIENT_ADDRESS_KEY,
    LIMITED_METHODS,
    RULES,
    Quota,
    Rate,
    RateLimited,
    TrustedPeers,
    address_key,
    parse_networks,
    peer_host,
)
from services.runtime.limits import client_address as service_client_address
from services.runtime.topology import CONTRACTS

LOOPBACK = TrustedPeers(parse_networks(["127.0.0.0/8", "::1/128"]))


def test_rates_parse_count_per_seconds_and_zero_turns_a_limit_off() -> None:
    assert Rate.parse("50/3600") == Rate(50, 3600.0)
    assert Rate.parse(" 0 ").off
    for bad in ("50", "x/60", "5/0", "-1/60", "5/inf", ""):
        with pytest.raises(ValueError):
            Rate.parse(bad)


def test_a_bad_rate_setting_stops_the_process_naming_it() -> None:
    with pytest.raises(SystemExit, match="SHUTTER_LIMIT_LIKES_PER_ACCOUNT must be <count>/<seconds>"):
        LimitSettings.from_env({"SHUTTER_LIMIT_LIKES_PER_ACCOUNT": "lots"})
    with pytest.raises(SystemExit, match="SHUTTER_LIMITS_TRUSTED_PEERS"):
        LimitSettings.from_env({"SHUTTER_LIMITS_TRUSTED_PEERS": "not-a-network"})
    settings = LimitSettings.from_env({"SHUTTER_LIMIT_LIKES_PER_ACCOUNT": "7/60"})
    assert settings.rates[("likes", "account")] == Rate(7, 60.0)
    assert settings.rates[("likes", "address")] == Rate.parse(RULES["likes"].address or "")


def test_every_limited_method_exists_and_every_write_is_limited() -> None:
    methods = {f"/{d.full_name}/{m.name}": m for d in CONTRACTS.values() for m in d.methods}
    assert set(LIMITED_METHODS) <= set(methods)
    assert all(rule in RULES for rule in LIMITED_METHODS.values())
    reads = ("Get", "List", "Batch", "Check", "Download", "Search", "View", "Authenticate")
    writes = {name for name, method in methods.items() if not method.name.startswith(reads)}
    assert writes - set(LIMITED_METHODS) == set(), "a write nobody limits"


def test_peer_hosts_and_address_keys() -> None:
    assert peer_host("ipv4:10.0.0.7:50514") == "10.0.0.7"
    assert peer_host("ipv6:[::1]:50514") == "::1"
    assert peer_host(None) == ""
    assert address_key("10.0.0.7") == "10.0.0.7"
    # One host usually holds a whole IPv6 /64: counted as one.
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:10.0.0.7") == "10.0.0.7"


def test_services_believe_the_client_address_only_from_trusted_peers() -> None:
    vouched = ((CLIENT_ADDRESS_KEY, "203.0.113.9"),)
    assert service_client_address(vouched, "ipv4:127.0.0.1:4000", LOOPBACK) == "203.0.113.9"
    assert service_client_address(vouched, "ipv4:198.51.100.4:4000", LOOPBACK) == "198.51.100.4"
    assert service_client_address((), "ipv4:127.0.0.1:4000", LOOPBACK) == "127.0.0.1"


def _request(client: str, headers: list[tuple[bytes, bytes]]) -> Request:
    scope = {"type": "http", "headers": headers, "client": (client, 1234), "state": {"request_id": "r1"}}
    return Request(scope)


def test_the_gateway_reads_x_forwarded_for_only_from_trusted_proxies() -> None:
    proxies = parse_networks(["10.0.0.0/8"])
    forwarded = [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.9, 10.0.0.3")]
    assert client_address(_request("10.0.0.2", forwarded), proxies) == "203.0.113.9"
    assert client_address(_request("192.0.2.1", forwarded), proxies) == "192.0.2.1"
    assert client_address(_request("10.0.0.2", []), proxies) == "10.0.0.2"
    assert client_address(_request("10.0.0.2", [(b"x-forwarded-for", b"garbage")]), proxies) == "10.0.0.2"


def test_the_gateway_never_passes_a_client_address_the_client_sent() -> None:
    forged = [(CLIENT_ADDRESS_KEY.encode(), b"192.0.2.77"), (b"x-forwarded-for", b"192.0.2.78")]
    metadata = call_metadata(_request("198.51.100.4", forged))
    assert [value for key, value in metadata if key == CLIENT_ADDRESS_KEY] == ["198.51.100.4"]


def test_a_refusal_carries_retry_info_and_the_figures() -> None:
    quota = Quota("likes", Rate(120, 3600), used=121, reset=41.2)
    error = RateLimited("too many", 41.2, quota)
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    [info] = unpacked(error.rich_status().details, error_details_pb2.RetryInfo)
    assert info.retry_delay.ToNanoseconds() == pytest.approx(41.2e9)
    assert dict(error.trailing_metadata()) == {
        "ratelimit-limit": "120",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "42",
        "ratelimit-policy": "120;w=3600",
    }
    assert ratelimit_headers([*error.trailing_metadata(), ("other", "x"), ("ratelimit-limit", b"bin")]) == {
        "RateLimit-Limit": "120",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "42",
        "RateLimit-Policy": "120;w=3600",
    }
