"""Abuse limits: one table of rate limits per method, counted where every replica sees the same counts.

Every write and the expensive reads (search, feed pages, photo views) are limited per account and per client
address, in fixed windows ("50 per hour"); each limit is a setting (LimitSettings in services.runtime.config).
The server interceptor applies LIMITED_METHODS to every call; the user service adds sign-in lockouts
(services.user.signin) and the photo service a daily byte quota, both through the same `Limiter`.

Where the counters live: a JetStream stream (`SHUTTER_LIMITS`) configured as a counter stream (ADR-49,
nats-server ≥ 2.12): a publish with `Nats-Incr: n` adds n to its subject's total atomically and the ack
carries the new total, so one round trip both counts and decides, with no read-modify-write race between
replicas. NATS is already every process's dependency (no new system), every replica of every gateway and
service sees the same totals, so a limit never multiplies by the replica count. A window's counter is the
subject `shutter.limits.<rule>.<scope>.<key digest>.<window number>`; the stream keeps one message per
subject and drops it after the longest window (max_age), so old windows vanish on their own. Memory storage:
the counts are short-lived and losing them with a NATS restart only resets them (fail open).

When NATS is down or slow (a counter not answered within SHUTTER_LIMITS_TIMEOUT_SECONDS): ordinary calls
are let through (fail open: the site stays usable, and NATS down already delays events, never refuses them);
sign-up and sign-in are refused with UNAVAILABLE (fail closed: brute force must not get a free run whenever
the counter store is away, and both are rare and retryable). Each outage is logged once.

Fixed windows admit at most twice a limit across a window's edge; that is the price of one counter per
window and one round trip per call, and well within what these limits are for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ipaddress
import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from services.runtime.errors import ResourceExhausted, Unavailable

if TYPE_CHECKING:
    from services.runtime.events import EventBus

log = logging.getLogger("shutter.limits")

LIMITS_STREAM = "SHUTTER_LIMITS"
LIMITS_SUBJECT_PREFIX = "shutter.limits"

# The metadata key the gateway puts the HTTP client's address in; services believe it only from trusted peers.
CLIENT_ADDRESS_KEY = "x-shutter-client-address"
# Trailing metadata a limited call carries (on success and on refusal), sent by the gateway as the IETF
# RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-06: RateLimit-Limit/-Remaining/-Reset and
# RateLimit-Policy).
RATELIMIT_KEYS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")

ACCOUNT = "account"
ADDRESS = "address"


@dataclass(frozen=True)
class Rate:
    """`count` per `window` seconds; count 0 means no limit."""

    count: int
    window: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "50/3600" (50 per hour); "0" turns the limit off. ValueError otherwise."""
        text = text.strip()
        if text == "0":
            return cls(0, 1.0)
        count, slash, window = text.partition("/")
        if not slash:
            raise ValueError(text)
        rate = cls(int(count), float(window))
        if rate.count < 0 or not (rate.window > 0 and math.isfinite(rate.window)):
            raise ValueError(text)
        return rate

    @property
    def off(self) -> bool:
        return self.count == 0

    def __str__(self) -> str:
        return "0" if self.off else f"{self.count}/{self.window:g}"


@dataclass(frozen=True)
class Rule:
    """A limit and what it counts: `account` is per signed-in user, `address` per client address (an IPv6
    address counts as its /64: one host usually holds the whole prefix)."""

    name: str
    doc: str
    account: str | None  # the default rate per account ("50/3600"), or None: not counted per account
    address: str | None  # the default rate per client address, or None
    fail_closed: bool = False  # refuse (UNAVAILABLE) when the counters cannot be reached


# Defaults in the spirit of Pixelfed (50 posts/h, 50 comments/h, 120 likes/h) and Mastodon (300 calls per
# 5 minutes per account; stricter on sign-up and media). An address gets more than an account: many people
# share one (a campus, a mobile carrier's NAT).
# fmt: off
RULES: dict[str, Rule] = {rule.name: rule for rule in (
    Rule("signup", "accounts created per client address", None, "10/3600", fail_closed=True),
    Rule("uploads", "photo uploads", "50/3600", "200/3600"),
    Rule("comments", "comments posted", "50/3600", "200/3600"),
    Rule("likes", "likes and unlikes", "120/3600", "500/3600"),
    Rule("follows", "follows and unfollows", "400/86400", "1000/86400"),
    Rule("deletes", "photos and comments deleted", "100/3600", "400/3600"),
    Rule("profile", "profile updates and account deletions", "30/3600", "100/3600"),
    Rule("search", "search pages", "300/300", "600/300"),
    Rule("feed", "home feed pages", "300/300", "1200/300"),
    Rule("views", "photo and profile views", "1500/300", "3000/300"),
    # Live streams opened: a client reconnects every few seconds at worst (its retry backs off to 30 s).
    Rule("watches", "live update streams opened", "120/300", "1200/300"),
    Rule("reads_marked", "notifications marked read", "300/300", "1200/300"),
    Rule("upload_bytes", "bytes of photos uploaded", "1073741824/86400", None),  # charged by the photo service
)}
# fmt: on

LIMITED_METHODS: dict[str, str] = {
    "/shutter.user.v1.UserService/CreateUser": "signup",
    "/shutter.user.v1.UserService/UpdateUser": "profile",
    "/shutter.user.v1.UserService/UploadAvatar": "profile",
    "/shutter.user.v1.UserService/DeleteUser": "profile",
    "/shutter.photo.v1.PhotoService/UploadPhoto": "uploads",
    "/shutter.photo.v1.PhotoService/UploadMedia": "uploads",
    "/shutter.photo.v1.PhotoService/CreatePost": "uploads",
    "/shutter.photo.v1.PhotoService/UpdatePhoto": "profile",
    "/shutter.photo.v1.PhotoService/DeletePhoto": "deletes",
    "/shutter.comment.v1.CommentService/PostComment": "comments",
    "/shutter.comment.v1.CommentService/DeleteComment": "deletes",
    "/shutter.comment.v1.CommentService/LikeComment": "likes",
    "/shutter.comment.v1.CommentService/UnlikeComment": "likes",
    "/shutter.like.v1.LikeService/LikePhoto": "likes",
    "/shutter.like.v1.LikeService/UnlikePhoto": "likes",
    "/shutter.follow.v1.FollowService/Follow": "follows",
    "/shutter.follow.v1.FollowService/Unfollow": "follows",
    # Changes to the social graph count as follows do (a request's answer, privacy, blocks, mutes).
    **{
        f"/shutter.follow.v1.FollowService/{name}": "follows"
        for name in (
            "ApproveFollowRequest",
            "RejectFollowRequest",
            "WithdrawFollowRequest",
            "SetAccountPrivacy",
            "BlockUser",
            "UnblockUser",
            "MuteUser",
            "UnmuteUser",
        )
    },
    "/shutter.search.v1.SearchService/SearchPhotos": "search",
    "/shutter.user.v1.UserService/SearchUsers": "search",
    "/shutter.feed.v1.FeedService/GetFeed": "feed",
    "/shutter.view.v1.ViewService/ViewPhoto": "views",
    "/shutter.view.v1.ViewService/ViewUserPhotos": "views",
    "/shutter.feed.v1.FeedService/WatchFeed": "watches",
    "/shutter.notification.v1.NotificationService/WatchNotifications": "watches",
    "/shutter.notification.v1.NotificationService/MarkNotificationsRead": "reads_marked",
}


def rate_env(rule: str, scope: str) -> str:
    return f"SHUTTER_LIMIT_{rule.upper()}_PER_{scope.upper()}"


# -- client addresses --------------------------------------------------------------------------------------


def parse_networks(entries: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """CIDRs (or single addresses); ValueError naming a bad one."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


class TrustedPeers:
    """The networks whose client-address metadata is believed (the gateways'), with what each host seen was
    found to be: asked on every call, so one dict lookup rather than parsing the host and testing networks."""

    MAX_HOSTS = 4096

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()) -> None:
        self.networks = tuple(networks)
        self._hosts: dict[str, bool] = {}

    def __contains__(self, host: str) -> bool:
        found = self._hosts.get(host)
        if found is None:
            if len(self._hosts) >= self.MAX_HOSTS:
                self._hosts.clear()
            found = self._hosts[host] = in_networks(host, self.networks)
        return found


def in_networks(address: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if not networks:  # the usual case (no proxies named): no address to parse on every request
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def peer_host(peer: str | None) -> str:
    """The host of a grpc peer string: "ipv4:10.0.0.7:50514" → 10.0.0.7, "ipv6:[::1]:5" → ::1."""
    if not peer:
        return ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition("]")[0].lstrip("[") or rest
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return rest


@functools.lru_cache(maxsize=65536)
def address_key(address: str) -> str:
    """What an address is counted as: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_address(metadata: Iterable[tuple[str, str | bytes]], peer: str | None, trusted: TrustedPeers) -> str:
    """Who is calling: the address a trusted peer (the gateway) vouches for in CLIENT_ADDRESS_KEY, else the
    peer itself. Anyone else's CLIENT_ADDRESS_KEY is ignored: a client calling directly cannot pick its key."""
    host = peer_host(peer)
    if host in trusted:
        vouched = next((v for k, v in metadata if k == CLIENT_ADDRESS_KEY and isinstance(v, str)), None)
        if vouched:
            return vouched
    return host


# -- answers -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """Where a caller stands against one limit after this call."""

    rule: str
    rate: Rate
    used: int
    reset: float  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(self.rate.count - self.used, 0)

    @property
    def exceeded(self) -> bool:
        return self.used > self.rate.count

    def metadata(self) -> tuple[tuple[str, str], ...]:
        reset = max(math.ceil(self.reset), 1)
        return (
            ("ratelimit-limit", str(self.rate.count)),
            ("ratelimit-remaining", str(self.remaining)),
            ("ratelimit-reset", str(reset)),
            ("ratelimit-policy", f"{self.rate.count};w={self.rate.window:g}"),
        )


class RateLimited(ResourceExhausted):
    """RESOURCE_EXHAUSTED with a RetryInfo, and the figures as trailing metadata for the gateway's headers."""

    def __init__(self, message: str, retry_after: float, quota: Quota | None = None) -> None:
        super().__init__(message, retry_after=max(retry_after, 0.001))
        self.quota = quota

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.quota.metadata() if self.quota is not None else ()


def tightest(quotas: Sequence[Quota]) -> Quota | None:
    """The quota closest to running out (the one to show a client)."""
    return min(quotas, key=lambda q: (q.remaining, -q.reset), default=None)


# -- the counters ------------------------------------------------------------------------------------------


class CountersDown(Exception):
    """The counter store did not answer in time."""


@dataclass(frozen=True)
class Count:
    value: int
    at: float  # unix time of the last change (0 when never counted)


class Counters:
    """Named integer counters on the SHUTTER_LIMITS counter stream (see the module docstring)."""

    def __init__(self, bus: EventBus, timeout: float, max_window: float, replicas: int = 1) -> None:
        self._bus = bus
        self._timeout = timeout
        self._max_age = max_window + 60
        self._replicas = replicas
        self._ready = False
        self._lock = asyncio.Lock()

    async def _ensure(self) -> None:
        if self._ready:
            return
        if not self._bus.connected:
            raise CountersDown("not connected to NATS")
        async with self._lock:
            if self._ready:
                return
            config = StreamConfig(
                name=LIMITS_STREAM,
                subjects=[f"{LIMITS_SUBJECT_PREFIX}.>"],
                storage=StorageType.MEMORY,
                num_replicas=self._replicas,
                max_msgs_per_subject=1,
                max_age=self._max_age,
                allow_msg_counter=True,
                allow_direct=True,
            )
            js = self._bus.jetstream
            try:
                info = await js.stream_info(LIMITS_STREAM)
                if (info.config.max_age or 0) < self._max_age:  # a process with a longer window came up
                    await js.update_stream(config)
            except NotFoundError:
                await js.add_stream(config)
            self._ready = True

    async def add(self, subject: str, amount: int = 1) -> int:
        """Add `amount` (may be negative) to `subject`'s counter; its new total."""
        try:
            if not self._ready:
                async with asyncio.timeout(self._timeout):
                    await self._ensure()
            ack = await self._bus.jetstream.publish(
                subject, b"", timeout=self._timeout, headers={"Nats-Incr": str(amount)}
            )
        except (NatsError, OSError, TimeoutError) as exc:
            raise self._down(exc) from exc
        return int(ack.val or 0)

    async def read(self, subject: str) -> Count:
        """A counter's total and when it last changed."""
        try:
            async with asyncio.timeout(self._timeout):
                if not self._ready:
                    await self._ensure()
                message = await self._bus.jetstream.get_msg(LIMITS_STREAM, subject=subject, direct=True)
        except NotFoundError:
            return Count(0, 0.0)
        except (NatsError, OSError, TimeoutError) as exc:
            raise self._down(exc) from exc
        value = int(json.loads(message.data or b"{}").get("val", "0"))
        when = message.time.timestamp() if getattr(message, "time", None) else time.time()
        return Count(value, when)

    async def reset(self, subject: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                if not self._ready:
                    await self._ensure()
                await self._bus.jetstream.purge_stream(LIMITS_STREAM, subject=subject)
        except (NatsError, OSError, TimeoutError) as exc:
            raise self._down(exc) from exc

    def _down(self, exc: BaseException) -> CountersDown:
        # The stream lives in memory: a restarted NATS has lost it, so make sure of it again next time.
        self._ready = False
        return CountersDown(f"{type(exc).__name__}: {exc}")


@functools.lru_cache(maxsize=65536)
def digest(text: str) -> str:
    """A subject-safe, bounded token for any key (usernames and addresses hold dots and colons)."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def subject(rule: str, scope: str, key: str, window: int | None = None) -> str:
    base = _subject_base(rule, scope, key)
    return base if window is None else f"{base}.{window}"


@functools.lru_cache(maxsize=65536)
def _subject_base(rule: str, scope: str, key: str) -> str:
    return f"{LIMITS_SUBJECT_PREFIX}.{rule}.{scope}.{digest(key)}"


# -- the limiter -------------------------------------------------------------------------------------------


class _OutageLog:
    def __init__(self) -> None:
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning("rate-limit counters unavailable", extra={"error": str(exc)[:300]})

    def worked(self) -> None:
        if self.down:
            self.down = False
            log.info("rate-limit counters available again")


# A process takes at most this fraction of a limit from the shared counter at once (see Allowance): a 16th
# keeps the round trips of a busy account's views to about one in a hundred calls.
LEASE_FRACTION = 16
MAX_ALLOWANCES = 100_000


@dataclass
class Allowance:
    """What this process took from one shared counter (one key, one window) and has handed out.

    One round trip per call would cost more than the calls it guards (a view is a few milliseconds of CPU), so
    a process takes a lease of several units at once (Limiter._lease) and hands them out locally. The shared
    total still bounds every replica together: a lease is counted there before any of it is used. The price:
    units a replica holds unused are spent for the others, so an account spread over R replicas may be refused
    up to R leases early (a lease is at most a 16th of the limit, and leases shrink to one near the limit).
    """

    window_end: float
    granted: int = 0  # units counted in the shared total for this process
    used: int = 0  # units handed out
    total: int = 0  # the shared total as of this process's last round trip

    @property
    def left(self) -> int:
        return self.granted - self.used


class Limiter:
    """Counts calls against the rules (rates from LimitSettings) and refuses those over a limit."""

    def __init__(
        self, counters: Counters, rates: dict[tuple[str, str], Rate], enabled: bool = True, lease_max: int = 32
    ) -> None:
        self.counters = counters
        self.rates = rates
        self.enabled = enabled
        self.lease_max = lease_max
        self.outage = _OutageLog()
        self._allowances: dict[str, Allowance] = {}

    def rate(self, rule: str, scope: str) -> Rate | None:
        rate = self.rates.get((rule, scope))
        return None if rate is None or rate.off else rate

    async def hit(self, rule: str, keys: dict[str, str], amount: int = 1) -> list[Quota]:
        """Count `amount` against `rule` for each (scope → key) that has a rate; RateLimited when any is over.

        Scopes are counted in parallel, each from this process's allowance when it holds one (see Allowance),
        else with one round trip to the counters. CountersDown when they do not answer (callers decide: fail
        open or closed). A refused amount larger than one (bytes) is given back, so a refused upload costs
        nothing; a refused call stays counted.
        """
        now = time.time()
        counted = [(scope, key, rate) for scope, key in keys.items() if (rate := self.rate(rule, scope))]
        if not counted:
            return []
        # Most calls are decided from this process's allowances, without a task or a round trip.
        local = [self._take_local(rule, scope, key, rate, amount, now) for scope, key, rate in counted]
        if any(found is None for found in local):
            remote = iter(
                await asyncio.gather(
                    *(
                        self._take(rule, scope, key, rate, amount, now)
                        for (scope, key, rate), found in zip(counted, local, strict=True)
                        if found is None
                    )
                )
            )
            taken = [found if found is not None else next(remote) for found in local]
        else:
            taken = local  # type: ignore[assignment]
        refused = [quota for ok, quota in taken if not ok]
        if refused:
            if amount > 1:  # give back what the scopes that had room took for this refused amount
                for (scope, key, rate), (ok, _) in zip(counted, taken, strict=True):
                    if ok:
                        self._allowances[subject(rule, scope, key, int(now // rate.window))].used -= amount
            worst = max(refused, key=lambda q: q.reset)
            raise RateLimited(
                f"too many requests ({RULES[rule].doc if rule in RULES else rule}: {worst.rate.count} per "
                f"{_duration(worst.rate.window)}); try again in {max(math.ceil(worst.reset), 1)} s",
                worst.reset,
                worst,
            )
        return [quota for _, quota in taken]

    def _take_local(
        self, rule: str, scope: str, key: str, rate: Rate, amount: int, now: float
    ) -> tuple[bool, Quota] | None:
        """The answer from this process's allowance alone, or None when it takes a round trip."""
        window = int(now // rate.window)
        window_end = (window + 1) * rate.window
        allowance = self._allowance(subject(rule, scope, key, window), window_end, now)
        reset = window_end - now
        if allowance.left >= amount:
            allowance.used += amount
            return True, Quota(rule, rate, max(allowance.total - allowance.left, 0), reset)
        if amount == 1 and allowance.total >= rate.count:
            # Known to be full: a call count only grows within its window, so no round trip needed to refuse.
            return False, Quota(rule, rate, rate.count + 1, reset)
        return None

    async def _take(self, rule: str, scope: str, key: str, rate: Rate, amount: int, now: float) -> tuple[bool, Quota]:
        window = int(now // rate.window)
        name = subject(rule, scope, key, window)
        window_end = (window + 1) * rate.window
        allowance = self._allowance(name, window_end, now)
        reset = window_end - now
        if allowance.left < amount:
            lease = max(amount - allowance.left, self._lease(rate, allowance.total, amount))
            total = await self.counters.add(name, lease)
            allowance.total = max(allowance.total, total)
            fits = max(0, min(lease, rate.count - (total - lease)))
            allowance.granted += fits
            if allowance.left < amount:
                if amount > 1 and lease > fits:  # bytes: the part over the quota goes back for the others
                    with contextlib.suppress(CountersDown):
                        allowance.total = await self.counters.add(name, -(lease - fits))
                return False, Quota(rule, rate, rate.count + 1, reset)
        allowance.used += amount
        return True, Quota(rule, rate, max(allowance.total - allowance.left, 0), reset)

    def _lease(self, rate: Rate, total: int, amount: int) -> int:
        """How much to take from the shared counter at once: a 16th of the limit (calls: at most lease_max),
        shrinking to one as the total nears the limit, so the last quarter is counted call by call."""
        base = rate.count // LEASE_FRACTION
        if amount == 1:
            base = min(base, self.lease_max)
        return max(amount, min(base, (rate.count - total) // 4))

    def _allowance(self, name: str, window_end: float, now: float) -> Allowance:
        found = self._allowances.get(name)
        if found is None:
            if len(self._allowances) >= MAX_ALLOWANCES:
                self._allowances = {k: a for k, a in self._allowances.items() if a.window_end > now}
            found = self._allowances[name] = Allowance(window_end)
        return found

    def limits(self, method: str) -> bool:
        """Whether calls of `method` are counted at all (most calls between services are not)."""
        return self.enabled and method in LIMITED_METHODS

    async def admit(self, method: str, user_id: int | None, address: str) -> Quota | None:
        """The interceptor's check for one call of `method`; the tightest quota after it (None: unlimited)."""
        rule_name = LIMITED_METHODS.get(method)
        if not self.enabled or rule_name is None:
            return None
        rule = RULES[rule_name]
        keys = {ADDRESS: address_key(address)}
        if user_id is not None:
            keys[ACCOUNT] = str(user_id)
        try:
            quotas = await self.hit(rule_name, keys)
        except CountersDown as exc:
            self.outage.failed(exc)
            if rule.fail_closed:
                raise Unavailable("this is unavailable for a moment; try again", retry_after=5.0) from exc
            return None
        self.outage.worked()
        return tightest(quotas)


async def charge(limiter: Limiter | None, rule: str, keys: dict[str, str], amount: int) -> None:
    """Charge `amount` (bytes, say) against a quota, or refuse without charging (RateLimited: the refused amount
    is given back, so a refused upload costs nothing). Fails open when the counters are away."""
    if limiter is None or not limiter.enabled or amount <= 0:
        return
    try:
        await limiter.hit(rule, keys, amount)
    except CountersDown as exc:
        limiter.outage.failed(exc)


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} s"


def limiter_metadata(quota: Quota | None) -> tuple[tuple[str, str], ...]:
    return quota.metadata() if quota is not None else ()
