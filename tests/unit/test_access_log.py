"""The access log's sampling: one line per N calls of each method, failures always, counts recoverable."""

from __future__ import annotations

import logging
import time

import grpc
import pytest

from gateway.app import SampledAccessLog
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


def uvicorn_line(status: int) -> logging.LogRecord:
    """A record as uvicorn.access makes it: (client, method, path, http version, status)."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/v1/x", "1.1", status),
        None,
    )


def test_the_gateways_access_log_keeps_one_request_in_n_and_every_failure() -> None:
    sampled = SampledAccessLog(every=3)
    kept = [
        (status, getattr(record, "sample_of", None))
        for status in (200, 200, 200, 404, 200, 503, 200)
        if sampled.filter(record := uvicorn_line(status))
    ]
    # The 3rd and 6th requests stand for three each; the 404 is kept anyway, outside the sample.
    assert kept == [(200, 3), (404, 0), (503, 3)]
