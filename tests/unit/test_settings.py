"""Settings declared once (services/runtime/settings.py): typed, checked at start, listed in docs/settings.md,
and a SHUTTER_* variable no process declares is warned about."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from services.feed.settings import FeedSettings
from services.runtime.config import Settings
from services.runtime.server import Runtime
from services.runtime.settings import (
    declared_names,
    every_section,
    load,
    process_sections,
    settings_modules,
    warn_undeclared,
)
from services.user.passwords import PROFILES
from services.user.settings import REAL_PROFILE, TEST_PROFILE, UserSettings
from tests.support.mesh import AUTH_SECRET, Mesh, free_port
from tools import settingsdoc

ROOT = Path(__file__).resolve().parents[2]
# Names that are not settings: the JetStream streams, and the prefix itself in code that builds names.
NOT_SETTINGS = {"SHUTTER_EVENTS", "SHUTTER_DLQ", "SHUTTER_LIMITS"}  # stream names


def test_the_settings_table_is_current() -> None:
    assert (ROOT / "docs" / "settings.md").read_text() == settingsdoc.render(), "stale: run `make settings-doc`"


def test_every_process_declares_each_setting_once() -> None:
    names = Counter(d.env for s in every_section() for d in (*s.declared(), *s.extra_declared()))
    assert [name for name, count in names.items() if count > 1] == []
    assert all(name.startswith("SHUTTER_") for name in names)


def test_every_setting_has_a_type_a_default_and_a_doc() -> None:
    for section in every_section():
        for declared in section.declared():
            assert declared.doc and declared.doc[0].islower(), declared.env  # a line of doc, as the table shows
            assert declared.kind in (int, float, str, bool, Path, tuple[str, ...], int | None), declared.env


def test_no_code_reads_a_setting_by_name() -> None:
    """Every SHUTTER_* name the services and the gateway spell out is declared (in a `setting(...)` line), so
    no setting is read by string key with a default of its own somewhere else."""
    declared = declared_names()
    spelled: dict[str, set[str]] = {}
    for path in [*ROOT.glob("services/**/*.py"), *ROOT.glob("gateway/**/*.py")]:
        for name in re.findall(r"\bSHUTTER_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()):
            spelled.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    undeclared = {name: files for name, files in spelled.items() if name not in declared | NOT_SETTINGS}
    assert undeclared == {}
    assert not re.search(r"environ(?:\.get)?\(?\[?\s*[\"']SHUTTER_", _code()), "read through a Section instead"


def _code() -> str:
    return "\n".join(p.read_text() for p in [*ROOT.glob("services/**/*.py"), *ROOT.glob("gateway/**/*.py")])


def test_upload_limit_is_one_setting_for_the_gateway_and_the_photo_service() -> None:
    settings = Settings.from_env({"SHUTTER_MAX_UPLOAD_BYTES": "1234"})
    from gateway.uploads import UploadLimits
    from services.photo.uploads import DEFAULT_MAX_UPLOAD_BYTES

    assert UploadLimits.from_settings(settings, GatewaySettings.from_env({})).max_bytes == 1234
    assert Settings.from_env({}).max_upload_bytes == DEFAULT_MAX_UPLOAD_BYTES


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHUTTER_TOKEN_TTL_SECONDS": "soon"}, "SHUTTER_TOKEN_TTL_SECONDS must be an integer ≥ 1, got 'soon'"),
        ({"SHUTTER_TOKEN_TTL_SECONDS": "0"}, "SHUTTER_TOKEN_TTL_SECONDS must be an integer ≥ 1, got '0'"),
        ({"SHUTTER_SHUTDOWN_GRACE_SECONDS": "nan"}, "SHUTTER_SHUTDOWN_GRACE_SECONDS must be a number ≥ 0, got 'nan'"),
        ({"SHUTTER_STORE": "mongodb"}, "SHUTTER_STORE must be one of sqlite, cql, got 'mongodb'"),
        ({"SHUTTER_LOG_LEVEL": "loud"}, "SHUTTER_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ({"SHUTTER_PHOTO_PORT": "http"}, "SHUTTER_PHOTO_PORT must be an integer from 0 to 65535, got 'http'"),
    ],
)
def test_a_bad_value_stops_the_process_naming_the_setting_and_what_it_accepts(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)


def test_every_bad_setting_of_a_process_is_named_at_once() -> None:
    env = {"SHUTTER_FEED_CAPACITY": "lots", "SHUTTER_FEED_MAX_DELIVER": "-1", "SHUTTER_CQL_LOCAL_NODE": "maybe"}
    with pytest.raises(SystemExit) as caught:
        load([FeedSettings, *process_sections("services.runtime.config")], env)
    assert str(caught.value).splitlines() == [
        "SHUTTER_FEED_CAPACITY must be an integer ≥ 1, got 'lots'",
        "SHUTTER_FEED_MAX_DELIVER must be an integer ≥ 1, got '-1'",
        "SHUTTER_CQL_LOCAL_NODE must be 1 or 0, got 'maybe'",
    ]


def test_values_are_typed_and_blank_means_the_default() -> None:
    env = {
        "SHUTTER_GATEWAY_CORS_ORIGINS": "https://a.example, *",
        "SHUTTER_GATEWAY_WORKERS": " ",
        "SHUTTER_LOG_LEVEL": "debug",
    }
    gateway = GatewaySettings.from_env(env)
    assert (gateway.cors_origins, gateway.workers) == (("https://a.example", "*"), 1)
    settings = Settings.from_env({**env, "SHUTTER_SHARD_ID": "12", "SHUTTER_NATS_PORT": "4333"})
    assert (settings.log_level, settings.shard_id, settings.nats_url) == ("DEBUG", 12, "nats://127.0.0.1:4333")
    assert Settings.from_env({"SHUTTER_STORE": "cql"}).blob_store == "s3"


def test_a_process_reads_its_own_sections_from_its_settings_module(tmp_path: Path) -> None:
    assert process_sections("services.feed.settings") == [FeedSettings]
    assert process_sections("services.like.settings") == []  # like has no settings of its own
    env = {"SHUTTER_DATA_DIR": str(tmp_path), "SHUTTER_AUTH_SECRET": AUTH_SECRET, "SHUTTER_FEED_CAPACITY": "12"}
    runtime = Runtime("feed", Settings.from_env(env))
    assert runtime.section(FeedSettings).capacity == 12
    assert "gateway.settings" in settings_modules()


def test_a_variable_no_process_declares_is_warned_about_with_the_likeliest_meaning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("shutter.test-settings")
    caplog.set_level(logging.WARNING, logger=log.name)
    environ = {"SHUTTER_FEED_CAPACTY": "5", "SHUTTER_HOST": "127.0.0.1", "PATH": "/bin"}
    assert warn_undeclared(environ, log) == ["SHUTTER_FEED_CAPACTY"]
    [record] = caplog.records
    assert (record.variable, record.did_you_mean) == ("SHUTTER_FEED_CAPACTY", "SHUTTER_FEED_CAPACITY")  # type: ignore[attr-defined]


def test_a_real_service_refuses_to_start_on_a_bad_value(tmp_path: Path) -> None:
    env = {**os.environ, "SHUTTER_DATA_DIR": str(tmp_path), "SHUTTER_FEED_CAPACITY": "lots"}
    result = subprocess.run(
        [sys.executable, "-m", "services.feed"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SHUTTER_FEED_CAPACITY must be an integer ≥ 1, got 'lots'" in result.stderr


def test_a_real_service_warns_at_start_about_a_typo(tmp_path: Path) -> None:
    """A service with no store and no NATS to wait for: view, started alone."""
    env = {
        **os.environ,
        "SHUTTER_DATA_DIR": str(tmp_path),
        "SHUTTER_AUTH_SECRET": AUTH_SECRET,
        "SHUTTER_VIEW_PORT": str(free_port()),
        "SHUTTER_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "SHUTTER_VIEW_DEADLINE_SECOND": "3",
    }
    log = tmp_path / "view.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.view"], cwd=ROOT, env=env, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while "SHUTTER_VIEW_DEADLINE_SECOND" not in log.read_text() and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(30)
    line = next(line for line in log.read_text().splitlines() if "SHUTTER_VIEW_DEADLINE_SECOND" in line)
    assert '"level": "warning"' in line and '"did_you_mean": "SHUTTER_VIEW_DEADLINE_SECONDS"' in line


def test_password_hashing_profiles() -> None:
    assert UserSettings.from_env({}).password_hash_profile == REAL_PROFILE
    assert PROFILES[REAL_PROFILE].memory_cost == 64 * 1024  # RFC 9106 low-memory: 64 MiB
    with pytest.raises(SystemExit, match="SHUTTER_PASSWORD_HASH_PROFILE must be one of"):
        UserSettings.from_env({"SHUTTER_PASSWORD_HASH_PROFILE": "fast"})


def test_test_meshes_hash_cheaply_unless_told_otherwise(tmp_path: Path) -> None:
    assert Mesh(tmp_path / "a").env["SHUTTER_PASSWORD_HASH_PROFILE"] == TEST_PROFILE
    real = Mesh(tmp_path / "b", extra_env={"SHUTTER_PASSWORD_HASH_PROFILE": REAL_PROFILE})
    assert real.env["SHUTTER_PASSWORD_HASH_PROFILE"] == REAL_PROFILE
