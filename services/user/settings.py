"""The user service's settings (how settings work: services.runtime.settings)."""

from __future__ import annotations

from dataclasses import dataclass

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
