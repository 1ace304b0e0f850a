"""The contracts every other test leans on: `eventually` (tests/support/waiting.py) and the rich-status
decoder (tests/support/rich_status.py), which must read a refusal the same over gRPC and over the gateway."""

from __future__ import annotations

import itertools

import grpc
import httpx
import pytest

from gateway.errors import rpc_error_response
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, ServiceError
from tests.support.rich_status import field_violations, precondition_violations
from tests.support.supervised import explain
from tests.support.waiting import eventually


def _rpc_error(error: ServiceError) -> grpc.aio.AioRpcError:
    """What a client gets when a handler raises `error` (the server interceptor sends error.to_status())."""
    status = error.to_status()
    return grpc.aio.AioRpcError(
        status.code, grpc.aio.Metadata(), grpc.aio.Metadata(*status.trailing_metadata), details=status.details
    )


def _http(error: ServiceError) -> httpx.Response:
    """The same refusal after the gateway has turned it into google.rpc.Status JSON."""
    response = rpc_error_response(_rpc_error(error), "photo")
    return httpx.Response(response.status_code, content=response.body, headers={"content-type": "application/json"})


# -- eventually ------------------------------------------------------------------------------------


async def test_eventually_returns_what_the_check_returned_once_it_passed() -> None:
    tries = itertools.count(1)

    async def third_time() -> int:
        attempt = next(tries)
        assert attempt >= 3, f"attempt {attempt}"
        return attempt

    assert await eventually(third_time, timeout=5, interval=0) == 3


@pytest.mark.parametrize("falsy", [False, 0, []], ids=["False", "0", "empty"])
async def test_a_falsy_answer_is_a_failure_and_none_is_a_pass(falsy: object) -> None:
    answers = iter([falsy, falsy, "done"])
    assert await eventually(lambda: next(answers), timeout=5, interval=0) == "done"
    assert await eventually(lambda: None, timeout=0) is None  # a check that only asserts


async def test_after_the_timeout_the_last_failure_is_raised_with_the_explanation() -> None:
    tries = itertools.count(1)

    def never() -> None:
        raise AssertionError(f"attempt {next(tries)}")

    with pytest.raises(AssertionError) as caught:
        await eventually(never, timeout=0.2, interval=0.05, explain=lambda: "the log tail")
    last = int(str(caught.value).split()[-1])
    assert last > 1 and next(tries) == last + 1  # the last try's failure, not the first's
    assert caught.value.__notes__ == ["(still failing after 0.2s of polling)", "the log tail"]


async def test_a_falsy_check_times_out_naming_what_it_returned() -> None:
    with pytest.raises(AssertionError, match="still returned 0"):
        await eventually(lambda: 0, timeout=0.1)


async def test_other_errors_and_pytest_fail_end_the_wait_at_once() -> None:
    calls = itertools.count(1)

    def broken() -> None:
        next(calls)
        raise KeyError("not a failed check")

    with pytest.raises(KeyError):
        await eventually(broken, timeout=5)
    assert next(calls) == 2
    with pytest.raises(pytest.fail.Exception, match="must hold on every try"):
        await eventually(lambda: pytest.fail("must hold on every try"), timeout=5)


# -- rich status -----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", [_rpc_error, _http], ids=["grpc", "http"])
def test_field_violations_read_the_same_over_grpc_and_http(transport) -> None:  # type: ignore[no-untyped-def]
    refusal = transport(InvalidArgument("photo_id", "must be positive", ("tags[3]", "too long")))
    assert field_violations(refusal) == {"photo_id": "must be positive", "tags[3]": "too long"}
    assert list(field_violations(refusal)) == ["photo_id", "tags[3]"]  # in the answer's order


@pytest.mark.parametrize("transport", [_rpc_error, _http], ids=["grpc", "http"])
def test_field_violations_are_only_read_from_an_invalid_argument(transport) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AssertionError):
        field_violations(transport(NotFound("no photo 5")))


@pytest.mark.parametrize("transport", [_rpc_error, _http], ids=["grpc", "http"])
def test_a_field_named_twice_is_not_hidden_by_the_dict(transport) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AssertionError, match="named twice"):
        field_violations(transport(InvalidArgument("tags", "too many", ("tags", "too long"))))


@pytest.mark.parametrize("transport", [_rpc_error, _http], ids=["grpc", "http"])
def test_precondition_violations_read_the_same_over_grpc_and_http(transport) -> None:  # type: ignore[no-untyped-def]
    refusal = transport(FailedPrecondition("used", ("IDEMPOTENCY_KEY_REUSED", "metadata.idempotency_key", "used")))
    assert precondition_violations(refusal) == [("IDEMPOTENCY_KEY_REUSED", "metadata.idempotency_key")]


def test_a_failed_make_run_shows_the_process_that_exited_apart_from_the_others_lines() -> None:
    """A CI run once showed only `comment exited with code 1` under sixty lines of the others stopping."""
    lines = [
        '15:01:25 comment      | {"level": "error", "msg": "cannot serve metrics: address in use"}',
        "15:01:25 mesh         | comment exited with code 1; stopping the mesh",
        *(f"15:01:26 user         | line {n}" for n in range(80)),
    ]
    report = explain(lines, last=10)
    assert report.splitlines()[:10] == lines[-10:]
    assert report.splitlines()[-2:] == ["--- the last lines of comment, which exited:", lines[0]]
    assert explain(lines[2:], last=10) == "\n".join(lines[-10:])  # nothing exited: the tail alone
