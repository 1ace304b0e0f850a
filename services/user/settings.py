"""The user service's settings (how settings work: services.runtime.settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.runtime.settings import Section, setting

# Password hashing parameters by name (argon2-cffi's profiles). The default is RFC 9106's low-memory
# argon2id (64 MiB, 3 passes); the cheapest one exists so test meshes do not spend ~0.2 s of CPU per sign-up,
# and must never hash a real password.
REAL_PROFILE = "rfc9106-low-memory"
TEST_PROFILE = "test-only-cheapest"
PASSWORD_HASH_PROFILES = (REAL_PROFILE, TEST_PROFILE)


@dataclass(frozen=True)
class UserSettings(Section):
    """The user service."""

    PROCESS = "user"

    password_hash_threads: int = setting(
        "SHUTTER_PASSWORD_HASH_THREADS", 2, "threads hashing passwords (each hash holds 64 MiB)", minimum=1
    )
    password_hash_profile: str = setting(
        "SHUTTER_PASSWORD_HASH_PROFILE",
        REAL_PROFILE,
        f"argon2 parameters; `{TEST_PROFILE}` is for test meshes only",
        choices=PASSWORD_HASH_PROFILES,
    )


@dataclass(frozen=True)
class SignInSettings(Section):
    """Sign-in brute-force protection (services.user.signin). Rates are `<count>/<seconds>`."""

    PROCESS = "user"

    failures_before_lockout: int = setting(
        "SHUTTER_SIGNIN_FAILURES_BEFORE_LOCKOUT",
        5,
        "failed sign-ins for one username from one address before that pair is locked out",
        minimum=1,
    )
    failure_window_seconds: float = setting(
        "SHUTTER_SIGNIN_FAILURE_WINDOW_SECONDS",
        86400.0,
        "how long a (username, address) pair's failures count (its lockouts grow within it)",
        minimum=1,
    )
    lockout_seconds: float = setting(
        "SHUTTER_SIGNIN_LOCKOUT_SECONDS", 30.0, "the first lockout; each further failure doubles it", minimum=0.001
    )
    lockout_max_seconds: float = setting(
        "SHUTTER_SIGNIN_LOCKOUT_MAX_SECONDS", 900.0, "the longest lockout", minimum=0.001
    )
    username_failures: str = setting(
        "SHUTTER_SIGNIN_USERNAME_FAILURES",
        "20/900",
        "failures for one username from all addresses past which every attempt for it is slowed down",
    )
    slowdown_seconds: float = setting(
        "SHUTTER_SIGNIN_SLOWDOWN_SECONDS", 2.0, "how long a slowed-down attempt waits before it is checked", minimum=0
    )
    address_failures: str = setting(
        "SHUTTER_SIGNIN_ADDRESS_FAILURES",
        "100/3600",
        "failed sign-ins from one address (any usernames) past which it may not sign in until the window ends",
    )

    @classmethod
    def resolve(cls, values: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
        from services.runtime.limits import Rate

        problems = []
        for name, env in (("username_failures", "SHUTTER_SIGNIN_USERNAME_FAILURES"),
                          ("address_failures", "SHUTTER_SIGNIN_ADDRESS_FAILURES")):  # fmt: skip
            try:
                Rate.parse(values[name])
            except ValueError:
                problems.append(f"{env} must be <count>/<seconds> or 0, got {values[name]!r}")
        if problems:
            raise SystemExit("\n".join(problems))
        return values
