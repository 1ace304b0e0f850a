"""The access log's sampling: one line per N calls of each method, failures always, counts recoverable."""

from __future__ import annotations

import logging
import time

import grpc
import pytest

from gateway.telemetry import HttpAccessLog
from services.runtime.interceptors import AccessLog

VIEW = "/shutter.view.v1.ViewService/ViewPhoto"
LIKE = "/shutter.like.v1.LikeService/GetLikeSummary"


def lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "shutter.rpc"]


def test_every_rpc_is_logged_by_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "shutter.rpc")
    log = AccessLog()
    for _ in range(3):
        log.record(VIEW, grpc.StatusCode.OK, time.perf_counter(), 2.0)
    records = lines(caplog)
    assert [(r.method, r.status, r.sample_of, r.deadline_ms) for r in records] == [(VIEW, "OK", 1, 2000.0)] * 3


def test_one_line_per_n_calls_of_each_method_and_every_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "shutter.rpc")
    log = AccessLog(every=4)
    for index in range(10):
        log.record(VIEW, grpc.StatusCode.NOT_FOUND if index == 1 else grpc.StatusCode.OK, time.perf_counter(), None)
    for _ in range(4):
        log.record(LIKE, grpc.StatusCode.OK, time.perf_counter(), None)
    records = lines(caplog)
    assert [(r.method, r.status, r.sample_of) for r in records] == [
        (VIEW, "NOT_FOUND", 0),  # the 2nd call: logged because it failed, not counted as a sample
        (VIEW, "OK", 4),  # the 4th
        (VIEW, "OK", 4),  # the 8th
        (LIKE, "OK", 4),  # each method has its own count
    ]
    # The sampled lines stand for the calls: 8 of the 10 views are accounted for, to within N.
    assert sum(r.sample_of for r in records if r.method == VIEW) == 8


def test_nothing_is_built_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "shutter.rpc")
    AccessLog().record(VIEW, grpc.StatusCode.INTERNAL, time.perf_counter(), None)
    assert lines(caplog) == []


def test_a_sampling_interval_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        AccessLog(every=0)


def http_scope(path: str = "/v1/x") -> dict:
    """What the gateway's middleware sees of a request (uvicorn's ASGI scope)."""
    return {"type": "http", "method": "GET", "path": path, "client": ("127.0.0.1", 1), "state": {"request_id": "r1"}}


def test_the_gateways_access_log_keeps_one_request_in_n_and_every_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "shutter.http")
    sampled = HttpAccessLog(every=3)
    for status in (200, 200, 200, 404, 200, 503, 200):
        sampled.record(http_scope(), "/v1/x", status, 0.002)
    records = [r for r in caplog.records if r.name == "shutter.http"]
    # The 3rd and 6th requests stand for three each; the 404 is kept anyway, outside the sample.
    assert [(r.status, r.sample_of) for r in records] == [(200, 3), (404, 0), (503, 3)]
    first = records[0]
    assert (first.method, first.path, first.route, first.client, first.request_id, first.duration_ms) == (
        "GET",
        "/v1/x",
        "/v1/x",
        "127.0.0.1:1",
        "r1",
        2.0,
    )


def test_the_gateways_access_log_builds_nothing_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "shutter.http")
    HttpAccessLog().record(http_scope(), "/v1/x", 500, 0.001)
    assert [r for r in caplog.records if r.name == "shutter.http"] == []
    with pytest.raises(ValueError):
        HttpAccessLog(every=0)
