"""Password hashing with argon2id, kept off the event loop.

Hashing is deliberately slow and memory-hungry (64 MiB per hash with RFC 9106's low-memory profile, the
default of SHUTTER_PASSWORD_HASH_PROFILE), so it runs on a small dedicated thread pool: the event loop
keeps serving, and the pool size bounds how much memory concurrent sign-ins can take.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Gauge

from services.runtime.errors import ResourceExhausted
from services.user.settings import REAL_PROFILE, TEST_PROFILE

PROFILES: dict[str, Parameters] = {REAL_PROFILE: profiles.RFC_9106_LOW_MEMORY, TEST_PROFILE: profiles.CHEAPEST}
# How long a refused sign-in is told to wait (google.rpc.RetryInfo; the gateway's Retry-After).
RETRY_AFTER_SECONDS = 1.0


def hasher_for(profile: str) -> PasswordHasher:
    """The hasher for a SHUTTER_PASSWORD_HASH_PROFILE name."""
    return PasswordHasher.from_parameters(PROFILES[profile])


T = TypeVar("T")

HASH_QUEUE = Gauge(
    "shutter_user_password_hash_queue_depth",
    "Password hashes (sign-ups, sign-ins) running or waiting on the argon2 pool; past its bound, sign-ins get 429.",
)


class Passwords:
    def __init__(self, threads: int = 2, hasher: PasswordHasher | None = None, max_queued: int | None = None) -> None:
        self._hasher = hasher or hasher_for(REAL_PROFILE)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        # Admission control: sign-up and sign-in are public and each costs a hash. Beyond this many
        # hashes waiting, answer RESOURCE_EXHAUSTED at once rather than let a flood queue every
        # legitimate sign-in until its deadline passes.
        self._max_in_flight = threads + (max_queued if max_queued is not None else 16 * threads)
        self._in_flight = 0
        # Verified against when the username does not exist, so a miss costs what a hit costs.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def start(self) -> None:
        """Nothing to open; the pool exists from construction."""

    async def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._in_flight >= self._max_in_flight:
            raise ResourceExhausted("too many sign-ins at once; retry shortly", retry_after=RETRY_AFTER_SECONDS)
        self._in_flight += 1
        HASH_QUEUE.inc()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._in_flight -= 1
            HASH_QUEUE.dec()

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no stored hash, burns the same time and says False."""
        try:
            matched = await self._run(self._hasher.verify, stored_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return bool(matched) and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with weaker parameters than today's."""
        return self._hasher.check_needs_rehash(stored_hash)
