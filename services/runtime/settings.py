"""Settings, declared once: every SHUTTER_* variable a process reads is a typed field with a default and a
one-line doc, in a frozen dataclass (a Section) of the process that reads it.

    @dataclass(frozen=True)
    class FeedSettings(Section):
        \"\"\"The feed service.\"\"\"

        capacity: int = setting("SHUTTER_FEED_CAPACITY", 800, "entries kept in each home feed", minimum=1)

A service's sections live in `services/<name>/settings.py`, the gateway's in `gateway/settings.py`, the ones
every process reads in `services/runtime/config.py`. The runtime reads and checks a process's sections when
it starts (`load`): a bad value stops the process with one line per bad setting, naming it and what it
accepts. A SHUTTER_* variable that no process declares is logged as a warning (`warn_undeclared`): a typo
would otherwise fall back to the default silently. docs/settings.md lists every setting of every process,
generated from these declarations by `python -m tools.settingsdoc`.

Frozen dataclasses rather than pydantic-settings: about fifty scalar settings need no validation library
(and no compiled dependency imported by every process); the inventory, the undeclared-variable warning and
the generated table would have to be written either way, and the declarations stay plain Python.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import logging
import math
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

PREFIX = "SHUTTER_"
SectionT = TypeVar("SectionT", bound="Section")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Declared:
    """One setting: its variable, default, doc, and what it accepts."""

    env: str
    default: Any
    doc: str
    kind: Any = str  # int, float, str, bool, Path, tuple[str, ...], or one of them | None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    shown_default: str | None = None  # the default as docs/settings.md shows it, when computed
    secret: bool = False

    def accepts(self) -> str:
        """What a valid value is, in words (for errors and for docs/settings.md)."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        base = _base(self.kind)
        words = {int: "an integer", float: "a number", bool: "1 or 0", Path: "a path", tuple: "a comma-separated list"}
        text = words.get(base, "text")
        if self.minimum is not None and self.maximum is not None:
            return f"{text} from {_number(self.minimum)} to {_number(self.maximum)}"
        if self.minimum is not None:
            return f"{text} ≥ {_number(self.minimum)}"
        return text

    def parse(self, raw: str) -> Any:
        """The value of `raw`; ValueError naming the setting and what it accepts."""
        text = raw.strip()
        if not text:
            return self.default
        try:
            value = self._convert(text)
        except ValueError:
            raise ValueError(f"{self.env} must be {self.accepts()}, got {raw!r}") from None
        if isinstance(value, int | float) and not isinstance(value, bool):
            low_ok = self.minimum is None or value >= self.minimum
            high_ok = self.maximum is None or value <= self.maximum
            if not (low_ok and high_ok):
                raise ValueError(f"{self.env} must be {self.accepts()}, got {raw!r}")
        return value

    def _convert(self, text: str) -> Any:
        base = _base(self.kind)
        if self.choices:
            found = [choice for choice in self.choices if choice.lower() == text.lower()]
            if not found:
                raise ValueError(text)
            return found[0]
        if base is int:
            return int(text)
        if base is float:
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
        if base is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if base is Path:
            return Path(text)
        if base is tuple:
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return text


def _base(kind: Any) -> Any:
    """int for `int | None`, tuple for `tuple[str, ...]`."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    return typing.get_origin(kind) or kind


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def setting(
    env: str,
    default: Any,
    doc: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Iterable[str] = (),
    shown_default: str | None = None,
    secret: bool = False,
) -> Any:
    """Declare a field of a Section as the setting `env` (see the module docstring)."""
    declared = Declared(
        env, default, doc, minimum=minimum, maximum=maximum, choices=tuple(choices), shown_default=shown_default,
        secret=secret,
    )  # fmt: skip
    return dataclasses.field(default=default, metadata={"setting": declared})


SECTIONS: list[type[Section]] = []


class Section:
    """A process's settings (a frozen dataclass whose fields are `setting`s). `PROCESS` says who reads it."""

    PROCESS: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        SECTIONS.append(cls)

    @classmethod
    def declared(cls) -> list[Declared]:
        """Every setting of this section, in declaration order, typed from the annotations."""
        hints = typing.get_type_hints(cls)
        found = []
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            declared = field.metadata.get("setting")
            if declared is not None:
                found.append(dataclasses.replace(declared, kind=hints[field.name]))
        return found

    @classmethod
    def from_env(cls: type[SectionT], environ: Mapping[str, str] | None = None) -> SectionT:
        """The section's values from `environ` (default: the process's environment); SystemExit naming every
        bad setting and what it accepts."""
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            declared = field.metadata.get("setting")
            if declared is None:
                continue
            declared = dataclasses.replace(declared, kind=hints[field.name])
            try:
                values[field.name] = declared.parse(environ.get(declared.env, ""))
            except ValueError as exc:
                problems.append(str(exc))
        for declared in cls.extra_declared():  # parsed again by `resolve`, which may rely on their being valid
            try:
                declared.parse(environ.get(declared.env, ""))
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise SystemExit("\n".join(problems))
        return cls(**cls.resolve(values, environ))

    @classmethod
    def resolve(cls, values: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
        """Values that depend on others (a URL from a port, say); the default changes nothing."""
        return values

    @classmethod
    def extra_declared(cls) -> list[Declared]:
        """Settings declared by pattern (one per service, say), beyond the fields."""
        return []


# -- every process's sections, for the undeclared-variable warning and docs/settings.md ---------------------


def settings_modules() -> list[str]:
    """The modules that declare sections: the runtime's, the gateway's, and each service's settings.py."""
    from services.runtime.topology import SERVICE_NAMES

    names = ["services.runtime.config", "gateway.settings", *(f"services.{name}.settings" for name in SERVICE_NAMES)]
    return [name for name in names if importlib.util.find_spec(name) is not None]


def every_section() -> list[type[Section]]:
    """Every section of every process (and any other imported, e.g. a test double's)."""
    for name in settings_modules():
        importlib.import_module(name)
    return list(SECTIONS)


def declared_names() -> set[str]:
    return {d.env for section in every_section() for d in (*section.declared(), *section.extra_declared())}


def process_sections(module: str) -> list[type[Section]]:
    """The sections a process's settings module declares (none when it has no such module)."""
    if importlib.util.find_spec(module) is None:
        return []
    importlib.import_module(module)
    return [section for section in SECTIONS if section.__module__ == module]


def load(sections: Iterable[type[Section]], environ: Mapping[str, str] | None = None) -> dict[type[Section], Section]:
    """Read and check `sections` at start; SystemExit naming every bad setting of all of them."""
    loaded: dict[type[Section], Section] = {}
    problems: list[str] = []
    for section in sections:
        try:
            loaded[section] = section.from_env(environ)
        except SystemExit as exc:
            problems.append(str(exc))
    if problems:
        raise SystemExit("\n".join(problems))
    return loaded


def warn_undeclared(environ: Mapping[str, str], log: logging.Logger) -> list[str]:
    """Log a warning for each SHUTTER_* variable no process declares (a typo falls back to the default
    silently otherwise); returns their names."""
    known = declared_names()
    unknown = sorted(name for name in environ if name.startswith(PREFIX) and name not in known)
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        log.warning(
            "a SHUTTER_ variable no process declares is set; it is ignored (see docs/settings.md)",
            extra={"variable": name, "did_you_mean": close[0] if close else None},
        )
    return unknown
