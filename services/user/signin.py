"""Sign-in brute-force protection: lockouts per (username, address), a slowdown per username, a cap per address.

The model, so that guessing is slow and nobody can lock another person out:
- failures are counted per (username, address) pair; past SHUTTER_SIGNIN_FAILURES_BEFORE_LOCKOUT of them the
  pair is locked out after each further failure, for SHUTTER_SIGNIN_LOCKOUT_SECONDS doubling each time up to
  SHUTTER_SIGNIN_LOCKOUT_MAX_SECONDS, and the count is forgotten when the pair's window ends or it signs in.
  A lockout is the attacker's alone: the account's owner, from anywhere else, is not locked out;
- failures per username from every address only slow attempts for it down (each waits a little before it is
  checked), never refuse them, so a distributed guesser is slowed and the owner still gets in;
- failures per address, whatever the usernames (password spraying), past a cap refuse that address's sign-ins
  until the window ends.
Usernames are counted whether or not such an account exists, and a refusal comes before any lookup, so the
answers and their timing say nothing about which accounts exist. The counters are the runtime's limiter's
(NATS); when they cannot be reached sign-in is refused with UNAVAILABLE (fail closed: an attacker must not get
unlimited guesses while the counters are away).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

from services.runtime import callctx
from services.runtime.errors import Unavailable
from services.runtime.limits import Count, CountersDown, Limiter, Rate, RateLimited, address_key, subject
from services.user.settings import SignInSettings

PAIR = "signin_pair"
USERNAME = "signin_username"
ADDRESS = "signin_address"


class SignInGuard:
    def __init__(self, limiter: Limiter, settings: SignInSettings) -> None:
        self._limiter = limiter
        self._settings = settings
        self._username_rate = Rate.parse(settings.username_failures)
        self._address_rate = Rate.parse(settings.address_failures)
        self._pair_rate = Rate(settings.failures_before_lockout, settings.failure_window_seconds)

    def _subjects(self, username: str, address: str, now: float) -> tuple[str, str, str]:
        where = address_key(address)

        def windowed(rule: str, scope: str, key: str, rate: Rate) -> str:
            return subject(rule, scope, key, int(now // rate.window))

        return (
            windowed(PAIR, "pair", f"{username}\n{where}", self._pair_rate),
            windowed(USERNAME, "username", username, self._username_rate),
            windowed(ADDRESS, "address", where, self._address_rate),
        )

    async def check(self, username: str) -> None:
        """Before the password is checked: RateLimited when this pair is locked out or this address is over its
        cap; waits when the username is being slowed down."""
        if not self._limiter.enabled:
            return
        now = time.time()
        pair_subject, username_subject, address_subject = self._subjects(username, callctx.client_address(), now)
        try:
            pair, by_username, by_address = await asyncio.gather(
                *(self._limiter.counters.read(s) for s in (pair_subject, username_subject, address_subject))
            )
        except CountersDown as exc:
            raise Unavailable("sign-in is unavailable for a moment; try again", retry_after=5.0) from exc
        rate = self._address_rate
        if not rate.off and by_address.value >= rate.count:
            window_end = (int(now // rate.window) + 1) * rate.window
            raise RateLimited("too many failed sign-ins from this address; try again later", window_end - now)
        wait = self._lockout_left(pair, now)
        if wait > 0:
            raise RateLimited(f"too many failed sign-ins; try again in {math.ceil(wait)} s", wait)
        rate = self._username_rate
        if not rate.off and by_username.value >= rate.count and self._settings.slowdown_seconds > 0:
            left = callctx.time_remaining()
            await asyncio.sleep(min(self._settings.slowdown_seconds, max((left or 60) - 0.5, 0)))

    def _lockout_left(self, pair: Count, now: float) -> float:
        over = pair.value - self._settings.failures_before_lockout
        if over < 0:
            return 0.0
        lockout = min(self._settings.lockout_seconds * 2 ** min(over, 60), self._settings.lockout_max_seconds)
        return pair.at + lockout - now

    async def failed(self, username: str) -> None:
        """Count a failed attempt (wrong password, or no such account) against its pair, username and address."""
        if not self._limiter.enabled:
            return
        subjects = self._subjects(username, callctx.client_address(), time.time())
        try:
            await asyncio.gather(*(self._limiter.counters.add(s) for s in subjects))
        except CountersDown as exc:
            raise Unavailable("sign-in is unavailable for a moment; try again", retry_after=5.0) from exc

    async def succeeded(self, username: str) -> None:
        """The pair signed in: its failures are forgotten (the username's and address's stay)."""
        if not self._limiter.enabled:
            return
        pair_subject, _, _ = self._subjects(username, callctx.client_address(), time.time())
        with contextlib.suppress(CountersDown):  # else the count runs out with its window; the sign-in succeeded
            await self._limiter.counters.reset(pair_subject)
