"""The user store: what UserService needs from a backend, free of SQL.

Two lookups drive the design: by id (profiles, BatchGetUsers) and by case-folded username
(sign-in, uniqueness). A CQL backend keeps them as `users` and `users_by_username` tables and
claims a username with a lightweight transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.runtime.errors import AlreadyExists
from services.runtime.stores import Storage
from shutter.events.v1 import events_pb2

STORAGE = Storage(
    sqlite="services.user.sqlite:SqliteUserStore", cql="services.user.cql:CqlUserStore", emits_events=True
)


@dataclass(frozen=True)
class UserRecord:
    user_id: int
    username: str
    display_name: str
    bio: str
    created_at_ms: int


@dataclass(frozen=True)
class Credentials:
    user_id: int
    password_hash: str


@dataclass(frozen=True)
class ProfileChange:
    """Fields to overwrite; None leaves a field alone."""

    display_name: str | None = None
    bio: str | None = None


@dataclass(frozen=True)
class AvatarImage:
    """One square rendition of a profile picture (small enough to live in the user store)."""

    content_type: str
    data: bytes
    sha256: str


class UsernameTaken(AlreadyExists):
    """Another account already holds this username (in any letter case)."""

    def __init__(self, username: str) -> None:
        super().__init__(f"username {username!r} is taken")


class UserStore(Protocol):
    async def create(self, user: UserRecord, password_hash: str) -> None:
        """Store a new account; raises UsernameTaken when the username's key is held."""

    async def username_taken(self, username_key: str) -> bool: ...

    async def get(self, user_id: int) -> UserRecord | None: ...

    async def get_by_username(self, username_key: str) -> UserRecord | None: ...

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, UserRecord]: ...

    async def credentials(self, username_key: str) -> Credentials | None: ...

    async def set_password_hash(self, username_key: str, user_id: int, password_hash: str) -> None: ...

    async def update(self, user_id: int, change: ProfileChange) -> UserRecord | None:
        """The updated profile, or None when there is no such user."""

    async def delete(self, user_id: int, event: events_pb2.UserDeleted) -> bool:
        """Remove the account and enqueue `event` with it; False when there was none."""

    async def search_names(self, prefix: str, after: tuple[str, int] | None, limit: int) -> list[tuple[str, int]]:
        """(term, user_id) of up to `limit` users found under a term starting with `prefix` (at least
        names.MIN_PREFIX_CHARS folded characters), each once at its smallest such term, in (term, user_id)
        order after `after`. A deleted user may still be listed: callers read the profiles."""

    async def set_avatar(self, user_id: int, version: int, renditions: dict[int, AvatarImage]) -> bool:
        """Replace the user's profile picture (renditions by pixel size) and its version; False when there is
        no such user (nothing is written then)."""

    async def avatar(self, user_id: int, size: int) -> AvatarImage | None:
        """One rendition of the user's current picture, or None."""

    async def avatar_versions(self, user_ids: Sequence[int]) -> dict[int, int]:
        """The picture version (its upload's id) of each of these users that has one."""
