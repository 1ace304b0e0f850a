"""Signed access tokens (JWT, HS256) shared by every service.

UserService issues user tokens at sign-in; the server interceptor verifies them on every service.
Services mint their own short-lived service tokens for background calls (event consumers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import jwt

from services.runtime.callctx import Principal
from services.runtime.errors import Unauthenticated

ISSUER = "shutter"
ALGORITHM = "HS256"

# Methods anyone may call: signing up, signing in, health, reflection and (when on) channelz.
PUBLIC_METHODS = frozenset(
    {
        "/shutter.user.v1.UserService/CreateUser",
        "/shutter.user.v1.UserService/Authenticate",
    }
)
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.", "/grpc.channelz.")

# Tokens remembered as verified, per process. A client reuses its token for an hour, so most calls
# present one seen before; past the bound the oldest are forgotten (and verified again when next seen).
VERIFIED_TOKENS = 10_000


def is_public(method: str) -> bool:
    return method in PUBLIC_METHODS or method.startswith(PUBLIC_PREFIXES)


class TokenAuthority:
    def __init__(self, secret: str, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 32:
            raise ValueError("the auth secret must be at least 32 characters")
        self._secret = secret
        self._ttl = ttl_seconds
        self._clock = clock
        # token → (principal, exp): a signature checked once holds until the token expires.
        self._verified: dict[str, tuple[Principal, float]] = {}

    def issue_user_token(self, user_id: int) -> tuple[str, datetime]:
        now = int(time.time())
        expires = now + self._ttl
        claims = {"iss": ISSUER, "sub": f"user:{user_id}", "iat": now, "exp": expires}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), datetime.fromtimestamp(expires, UTC)

    def issue_service_token(self, service: str, ttl_seconds: int = 3600) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": f"service:{service}", "iat": now, "exp": now + ttl_seconds}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        """The token's principal. PyJWT's checks cost ~100 µs a call, paid at every hop of every RPC;
        a token already verified is looked up by its exact bytes instead, until its `exp`."""
        known = self._verified.get(token)
        if known is not None:
            principal, expires = known
            if self._clock() < expires:
                return principal
            del self._verified[token]
            raise Unauthenticated("access token expired")
        principal, expires = self._decode(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, expires)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("invalid access token") from exc
        kind, _, ident = str(claims["sub"]).partition(":")
        expires = float(claims["exp"])
        iat = claims.get("iat")
        issued_at = float(iat) if isinstance(iat, int | float) else None
        if kind == "user" and ident.isdigit():
            return Principal(token=token, user_id=int(ident), issued_at=issued_at, expires_at=expires), expires
        if kind == "service" and ident:
            return Principal(token=token, service=ident, expires_at=expires), expires
        raise Unauthenticated("invalid access token")


def bearer_token(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str | None:
    """The token from `authorization: Bearer …` metadata, if any."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
    return None
