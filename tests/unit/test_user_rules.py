"""The account rules and the password hasher, without a server."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher

from services.runtime.errors import ResourceExhausted
from services.user import rules
from services.user.passwords import Passwords, hasher_for
from services.user.settings import REAL_PROFILE


@pytest.mark.parametrize("username", ["abc", "a" * 30, "Alice.B_2", "...", "___", "0123"])
def test_good_usernames(username: str) -> None:
    assert rules.username_problem(username) is None


@pytest.mark.parametrize(
    "username", ["", "ab", "a" * 31, "with space", "dash-ed", "émile", "ab\n", "tab\tx", "at@x", "ｆｕｌｌ"]
)
def test_bad_usernames(username: str) -> None:
    assert rules.username_problem(username)


def test_username_key_ignores_case_only() -> None:
    assert rules.username_key("Alice.B_2") == rules.username_key("aLICE.b_2") == "alice.b_2"
    assert rules.username_key("alice") != rules.username_key("alice_")


@pytest.mark.parametrize(
    ("password", "ok"), [("", False), ("1234567", False), ("12345678", True), ("p" * 1024, True), ("p" * 1025, False)]
)
def test_password_length(password: str, ok: bool) -> None:
    assert (rules.password_problem(password) is None) is ok


def test_display_name_and_bio_limits() -> None:
    assert rules.display_name_problem("") is None
    assert rules.display_name_problem("Zoë 🌸") is None
    assert rules.display_name_problem("n" * 65)
    assert rules.display_name_problem("two\nlines")
    assert rules.bio_problem("two\nlines") is None
    assert rules.bio_problem("b" * 501)
    assert rules.bio_problem("nul\x00")
    assert rules.bio_problem("del\x7f")


def _cheap_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


async def test_verify_accepts_the_password_and_nothing_else() -> None:
    passwords = Passwords(threads=1, hasher=_cheap_hasher())
    try:
        stored = await passwords.hash("right password")
        assert stored.startswith("$argon2id$")
        assert await passwords.verify(stored, "right password")
        assert not await passwords.verify(stored, "wrong password")
        assert not await passwords.verify("not a hash", "right password")
        # Unknown user: no stored hash, the dummy is verified instead and the answer is no.
        assert not await passwords.verify(None, "right password")
    finally:
        await passwords.stop()


async def test_weaker_hashes_need_rehashing() -> None:
    passwords = Passwords(threads=1, hasher=hasher_for(REAL_PROFILE))
    try:
        weak = _cheap_hasher().hash("pw-12345")
        assert passwords.needs_rehash(weak)
        assert not passwords.needs_rehash(await passwords.hash("pw-12345"))
    finally:
        await passwords.stop()


async def test_hashing_leaves_the_event_loop_free() -> None:
    """With the real (slow) parameters, the loop keeps ticking while a hash runs."""
    passwords = Passwords(threads=1, hasher=hasher_for(REAL_PROFILE))
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    try:
        await asyncio.sleep(0)
        before = ticks
        await passwords.hash("a password of some length")
        assert ticks > before
    finally:
        beating.cancel()
        await passwords.stop()


class _GatedHasher(PasswordHasher):
    """Hashes only when the test lets it, so the pool can be held full deterministically."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self._gate = gate

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._gate.wait(10)
        return super().hash(password, salt=salt)


async def test_hashing_beyond_the_queue_bound_is_refused_at_once() -> None:
    gate = threading.Event()
    gate.set()  # let the constructor's dummy hash through
    passwords = Passwords(threads=1, hasher=_GatedHasher(gate), max_queued=1)
    gate.clear()
    running = [asyncio.ensure_future(passwords.hash(f"password-{n}")) for n in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(ResourceExhausted):
        await passwords.hash("one too many")
    gate.set()
    hashes = await asyncio.gather(*running)
    assert all(h.startswith("$argon2") for h in hashes)
    assert (await passwords.hash("room again")).startswith("$argon2")
    await passwords.stop()
