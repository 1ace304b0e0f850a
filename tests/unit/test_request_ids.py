"""The gateway's request ids: a client's plain token is kept, anything else gets a fresh id, and no two
processes share one (gateway.middleware.request_id)."""

from __future__ import annotations

import os
import re

from gateway.middleware import request_id

FRESH = re.compile(r"[0-9a-f]{32}")


def test_a_plain_token_from_the_client_is_kept() -> None:
    assert request_id([(b"accept", b"*/*"), (b"x-request-id", b"trace-42.a:b_c")]) == "trace-42.a:b_c"


def test_anything_else_gets_a_fresh_id() -> None:
    for given in (b"", b"has space", b"new\nline", b"x" * 129, "é".encode()):
        assert FRESH.fullmatch(request_id([(b"x-request-id", given)])), given
    assert FRESH.fullmatch(request_id([]))


def test_fresh_ids_differ() -> None:
    ids = {request_id([]) for _ in range(1000)}
    assert len(ids) == 1000


def test_a_forked_process_makes_ids_of_its_own() -> None:
    """Without a reseed, parent and child would draw the same next id from the same generator state."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only reports its id
        os.write(write, request_id([]).encode())
        os._exit(0)
    os.close(write)
    theirs = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(child, 0)
    assert FRESH.fullmatch(theirs)
    assert theirs != request_id([])
