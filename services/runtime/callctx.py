"""What the current RPC is: who called, which request, and by when it must answer.

Set by the server interceptor for the handler's task; read by handlers (who is acting) and by the
client interceptor (forward the caller's token and request id, carve deadlines from what is left).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.runtime.errors import InvalidArgument, PermissionDenied, Unauthenticated


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user, or a service acting on its own behalf (consumers)."""

    token: str
    user_id: int | None = None
    service: str | None = None
    issued_at: float | None = None  # the token's `iat` (unix seconds)
    expires_at: float | None = None  # the token's `exp` (unix seconds): when a long stream must end


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
_client_address: contextvars.ContextVar[str | Callable[[], str]] = contextvars.ContextVar("client_address", default="")


def bind(principal: Principal | None, request_id: str, time_remaining: float | None) -> None:
    """Called once per RPC, inside the handler's own task."""
    _principal.set(principal)
    _request_id.set(request_id)
    _deadline.set(None if time_remaining is None else time.monotonic() + time_remaining)


def bind_principal(principal: Principal | None) -> None:
    """For background work (event consumers) that calls other services as itself."""
    _principal.set(principal)


def bind_client_address(address: str | Callable[[], str]) -> None:
    """Where the call comes from (services.runtime.limits.client_address), or how to work it out when first
    asked: set by the server interceptor."""
    _client_address.set(address)


def client_address() -> str:
    """The calling client's address ("" outside an RPC): what per-address limits count."""
    address = _client_address.get()
    if not isinstance(address, str):
        address = address()
        _client_address.set(address)
    return address


def principal() -> Principal | None:
    return _principal.get()


def request_id() -> str | None:
    return _request_id.get()


def time_remaining() -> float | None:
    """Seconds left before the caller's deadline, or None when it set none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def acting_user_id() -> int:
    """The authenticated user's id; services acting alone have none."""
    current = _principal.get()
    if current is None:
        raise Unauthenticated("authentication required")
    if current.user_id is None:
        raise PermissionDenied("this call must be made by a user")
    return current.user_id


def require_user(user_id: int, field: str) -> None:
    """The request acts for `user_id` (named by `field`): it must be the authenticated user."""
    if acting_user_id() != user_id:
        raise PermissionDenied(f"{field} must be the authenticated user")


UNSET_MEANS_CALLER = "must be a positive id, or unset for the authenticated user"


def acting_as(user_id: int, field: str) -> int:
    """The user a request acts or views for, from a field that may only name the caller (`field`).

    Unset (0) means the authenticated user: the token already says who asks. Set to anyone else,
    PERMISSION_DENIED; negative, INVALID_ARGUMENT (handlers that name every bad field at once check
    `user_id >= 0` with UNSET_MEANS_CALLER among the others first). Fields that name an account being changed or removed
    (UpdateUser, DeleteUser) stay required instead: an omitted id must not delete the caller.
    """
    if user_id < 0:
        raise InvalidArgument(field, UNSET_MEANS_CALLER)
    if user_id == 0:
        return acting_user_id()
    require_user(user_id, field)
    return user_id


def viewer(viewer_id: int, field: str) -> int:
    """Whose view a read is for (has-liked and the like): `viewer_id` if set, which must be the caller;
    unset, the calling user, or 0 (no viewer) when a service reads on its own behalf."""
    current = _principal.get()
    if viewer_id == 0 and current is not None and current.user_id is None:
        return 0
    return acting_as(viewer_id, field)
