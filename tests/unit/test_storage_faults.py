"""Which errors are faults of the server's own storage, and how they are answered (runtime/errors.py; SQLite's
faults are registered by the SQLite backend, runtime/sqlite.py, imported here as a service on SQLite does)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
from pathlib import Path

import grpc
import pytest

import services.runtime.sqlite  # noqa: F401 - registers SQLite's faults with the error table
from services.runtime.errors import storage_fault, storage_faults


def _sqlite_error(tmp_path: Path, kind: str) -> sqlite3.Error:
    """A real error from SQLite itself."""
    path = tmp_path / "x.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (v BLOB)")
        conn.execute("CREATE UNIQUE INDEX one ON t (v)")
        conn.execute("INSERT INTO t VALUES (x'00')")
        conn.commit()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        if kind == "full":
            conn.execute(f"PRAGMA max_page_count = {pages}")
    uri = f"file:{path}?mode=ro" if kind == "read-only" else str(path)
    with contextlib.closing(sqlite3.connect(uri, uri=kind == "read-only")) as conn:
        if kind == "full":
            conn.execute(f"PRAGMA max_page_count = {pages}")
        try:
            conn.execute("INSERT INTO t VALUES (?)", (b"\0" if kind == "constraint" else os.urandom(20_000),))
        except sqlite3.Error as exc:
            return exc
    raise AssertionError("SQLite accepted the write")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (OSError(errno.EROFS, "Read-only file system"), grpc.StatusCode.UNAVAILABLE),
        (OSError(errno.EIO, "Input/output error"), grpc.StatusCode.UNAVAILABLE),
        (FileNotFoundError(errno.ENOENT, "No such file"), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_kernel_errors_on_our_files_are_the_servers(exc: OSError, code: grpc.StatusCode) -> None:
    answer = storage_fault(exc)
    assert answer is not None and answer.code == code


def test_a_real_full_filesystem_is_resource_exhausted() -> None:
    with pytest.raises(OSError) as caught, open("/dev/full", "wb", buffering=0) as full:
        full.write(b"x")
    answer = storage_fault(caught.value)
    assert answer is not None and answer.code == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    ("kind", "code"),
    [("full", grpc.StatusCode.RESOURCE_EXHAUSTED), ("read-only", grpc.StatusCode.UNAVAILABLE), ("constraint", None)],
)
def test_sqlite_errors_by_their_result_code(tmp_path: Path, kind: str, code: grpc.StatusCode | None) -> None:
    error = _sqlite_error(tmp_path, kind)
    answer = storage_fault(error)
    assert (answer.code if answer else None) == code, error


@pytest.mark.parametrize(
    "exc",
    [OSError("image file is truncated"), OSError("broken data stream when reading image file"), ValueError("x")],
)
def test_errors_without_an_errno_are_not_storage_faults(exc: Exception) -> None:
    assert storage_fault(exc) is None


def test_a_fault_is_answered_and_logged_once_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shutter.storage")
    cause = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(Exception) as caught, storage_faults("writing a test file"):
        raise cause
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert caught.value.__cause__ is cause
    assert [(r.levelname, r.getMessage(), r.doing, r.errno, r.exc_info) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("ERROR", "storage fault", "writing a test file", "ENOSPC", None)
    ]
    with pytest.raises(ValueError), storage_faults("anything else passes through"):
        raise ValueError("not storage")
    assert len(caplog.records) == 1


def test_a_cassandra_lightweight_transaction_with_an_unknown_outcome_is_retryable() -> None:
    """Cassandra's CAS_WRITE_UNKNOWN (LWT contention or a slow replica, seen under load on a three-node cluster)
    is an outage the caller retries, like a write timeout, not an INTERNAL error; other server errors stay."""
    from cassandra.protocol import ErrorMessage

    import services.runtime.cql  # noqa: F401 - registers the CQL faults with the error table
    from services.runtime.errors import answer_for

    unknown = ErrorMessage(0x1700, "CAS operation result is unknown - proposal accepted by 1 but not a quorum.", None)
    answer = answer_for(unknown)
    assert (answer.error.code, answer.retryable) == (grpc.StatusCode.UNAVAILABLE, True)
    assert answer_for(ErrorMessage(0x0000, "server error", None)).error.code == grpc.StatusCode.INTERNAL
