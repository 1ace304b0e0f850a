"""Deleted users, known to every service, so a deleted user's still-valid token stops working at once.

Tokens are stateless JWTs valid for SHUTTER_TOKEN_TTL_SECONDS. Without this, a user deleted by
DeleteUser could keep writing (photos, likes, comments…) with their old token until it expired, and
those writes would outlive the one-off per-service purges run on the UserDeleted event.

Each process reads the UserDeleted subject through an ephemeral ordered consumer (in memory on the
server, nothing durable to clean up) that starts at `now - token TTL - margin`: only deletions within
one token lifetime matter, because any token issued before an older deletion has expired by now and is
refused as expired anyway. Entries older than that window are dropped for the same reason, so the set
stays as small as one TTL's worth of deletions. User ids are never reused, so "this id was deleted" is
enough; no per-token bookkeeping.

Starting without NATS. A service must serve while NATS is down, yet the set comes from NATS. So the
process keeps a snapshot in its data directory (`deleted-users.json`: the set, and `watched_until`,
the last moment this process was alive and listening), rewritten at once when a deletion arrives and
every few seconds otherwise, and loads it before SERVING. Until the consumer has caught up with the
stream, tokens are judged by what the process can vouch for:

- A snapshot watched until moments before this start (a crash or restart: the gap is under
  TRUSTED_GAP_SECONDS) makes this process exactly as informed as the one it replaces. Ids in the set
  are refused; other tokens are accepted, as that process would have accepted them.
- No snapshot (a new pod, a wiped volume) or a stale one: deletions made while nobody here was
  listening are unknown. A user token issued before this process started is refused as
  UNAUTHENTICATED ("sign in again"); one issued since is accepted, because UserService issues no token
  to a deleted account, so a token newer than this process belongs to an account that was not deleted
  before this process started. Clients recover the ordinary way (sign in again) and nothing a deleted
  account says is believed. The alternative, asking UserService about every user id, would add a
  call from every service to UserService and still fail when it is down too. Token times are whole
  seconds and assume the processes' clocks agree (NTP).

Once the consumer catches up (NATS back), the set alone decides, as in normal operation.

Remaining window: the event reaches every process milliseconds after the user service commits and
relays it (longer if NATS is down, but then the deletion's event is delayed for every process alike).
A write that races the deletion inside that window can survive; the per-service UserDeleted purges
remain the backstop for data written before the deletion, and a write landing after the purge in that
window is the accepted residue.

Every process sees every deletion through a Broadcast (services.runtime.broadcast) of UserDeleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from services.runtime.broadcast import Broadcast
from services.runtime.concurrency import cancel_until_done
from services.runtime.errors import Unauthenticated
from services.runtime.events import EventBus
from shutter.events.v1 import events_pb2

log = logging.getLogger("shutter.revocation")

# Clock skew between the user service and this process, and event relay delay.
WINDOW_MARGIN_SECONDS = 300.0
PRUNE_EVERY_SECONDS = 60.0
# How often `watched_until` is brought forward on disk, and how old it may be for a restarted process
# to take over its predecessor's knowledge.
SNAPSHOT_EVERY_SECONDS = 5.0
TRUSTED_GAP_SECONDS = 60.0
SNAPSHOT_VERSION = 1


class DeletedUsers:
    """The ids of users deleted within the last token lifetime (a runtime component)."""

    def __init__(
        self,
        bus: EventBus,
        token_ttl_seconds: float,
        snapshot_path: Path | None = None,
        margin_seconds: float = WINDOW_MARGIN_SECONDS,
    ) -> None:
        self._window = token_ttl_seconds + margin_seconds
        self._snapshot_path = snapshot_path
        self._deleted_at: dict[int, float] = {}
        self._deletions = Broadcast(bus, events_pb2.UserDeleted, self._on_deleted, since=time.time() - self._window)
        # Until caught up: user tokens issued before this (unix seconds) are refused; None: none are.
        self._tokens_not_before: float | None = None
        self._last_prune = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = asyncio.Event()
        self._snapshot_failed = False

    def is_deleted(self, user_id: int) -> bool:
        return user_id in self._deleted_at

    def check(self, user_id: int, issued_at: float | None) -> None:
        """Raise UNAUTHENTICATED if a token for `user_id` issued at `issued_at` must be refused."""
        if user_id in self._deleted_at:
            raise Unauthenticated("account deleted")
        not_before = self._tokens_not_before
        if (
            not_before is not None
            and not self._deletions.is_caught_up
            and (issued_at is None or issued_at < not_before)
        ):
            raise Unauthenticated(
                "this service cannot check yet whether this token's account was deleted; sign in again for a new token"
            )

    @property
    def caught_up(self) -> bool:
        return self._deletions.is_caught_up

    async def wait_caught_up(self) -> None:
        await self._deletions.caught_up()

    async def start(self) -> None:
        """Load the snapshot (before SERVING), then follow the stream in the background."""
        started_at = time.time()
        snapshot = self._load()
        if snapshot is None or started_at - snapshot.watched_until > TRUSTED_GAP_SECONDS:
            self._tokens_not_before = float(int(started_at))
            age = None if snapshot is None else round(started_at - snapshot.watched_until)
            log.info(
                "no recent deleted-users snapshot; until NATS is read, user tokens older than this process are refused",
                extra={"snapshot_age_seconds": age},
            )
        else:
            # A predecessor that had not caught up either hands on its own limit.
            self._tokens_not_before = snapshot.tokens_not_before
            log.info("deleted users loaded from snapshot", extra={"known": len(self._deleted_at)})
        await self._save()
        await self._deletions.start()
        self._tasks = [
            asyncio.create_task(self._follow(), name="deleted-users-follow"),
            asyncio.create_task(self._keep_snapshot(), name="deleted-users-snapshot"),
        ]

    async def stop(self) -> None:
        await asyncio.gather(*(cancel_until_done(task) for task in self._tasks))
        await self._deletions.stop()
        await self._save()

    # -- following the stream ----------------------------------------------------------------------

    async def _follow(self) -> None:
        await self._deletions.caught_up()
        self._tokens_not_before = None
        log.info("deleted users caught up with the stream", extra={"known": len(self._deleted_at)})
        self._dirty.set()

    def _on_deleted(self, event: events_pb2.UserDeleted) -> None:
        now = time.time()
        deleted_at = event.meta.occurred_at.ToSeconds() if event.meta.HasField("occurred_at") else now
        if deleted_at >= now - self._window and event.user_id not in self._deleted_at:
            self._deleted_at[event.user_id] = deleted_at
            self._dirty.set()
        if now - self._last_prune > PRUNE_EVERY_SECONDS:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget deletions older than a token lifetime: every token they could concern has expired."""
        cutoff = now - self._window
        self._deleted_at = {user: at for user, at in self._deleted_at.items() if at >= cutoff}
        self._last_prune = now

    # -- the snapshot ------------------------------------------------------------------------------

    async def _keep_snapshot(self) -> None:
        """Write at once when the set grows; otherwise every few seconds, to move `watched_until` on."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SNAPSHOT_EVERY_SECONDS):
                    await self._dirty.wait()
            self._dirty.clear()
            self._prune(time.time())
            await self._save()

    def _load(self) -> _Snapshot | None:
        """The snapshot's deletions into the set; None when there is no usable snapshot."""
        if self._snapshot_path is None:
            return None
        try:
            snapshot = json.loads(self._snapshot_path.read_text())
            if snapshot.get("version") != SNAPSHOT_VERSION:
                return None
            cutoff = time.time() - self._window
            self._deleted_at = {int(user): float(at) for user, at in snapshot["deleted"].items() if float(at) >= cutoff}
            not_before = snapshot.get("tokens_not_before")
            return _Snapshot(float(snapshot["watched_until"]), None if not_before is None else float(not_before))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("deleted-users snapshot unreadable; ignored", extra={"error": str(exc)[:300]})
            self._deleted_at = {}
            return None

    async def _save(self) -> None:
        if self._snapshot_path is None:
            return
        snapshot = {
            "version": SNAPSHOT_VERSION,
            "watched_until": time.time(),
            "tokens_not_before": self._tokens_not_before,
            "deleted": {str(user): at for user, at in self._deleted_at.items()},
        }
        try:
            await asyncio.to_thread(_write_atomically, self._snapshot_path, json.dumps(snapshot).encode())
            self._snapshot_failed = False
        except OSError as exc:
            if not self._snapshot_failed:  # once per spell: the set in memory still works
                log.warning("cannot write the deleted-users snapshot", extra={"error": str(exc)[:300]})
            self._snapshot_failed = True


@dataclass(frozen=True)
class _Snapshot:
    watched_until: float
    tokens_not_before: float | None


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one (rename after fsync)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
