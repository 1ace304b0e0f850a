"""The one text rule (services/runtime/text.py): what a user-supplied string field may hold."""

from __future__ import annotations

import pytest

from services.runtime.errors import InvalidArgument, Violations
from services.runtime.text import text_problem

ALLOWED = [
    "",
    "plain words",
    "Zoë, café, naïve",
    "東京タワー",
    "مرحبا بالعالم",
    "שלום\u200f!",  # RLM: an implicit mark that places punctuation in right-to-left text
    "\u061cعربي",  # ALM
    "left\u200eright",  # LRM
    "👩\u200d👩\u200d👧 family",  # emoji joined with ZWJ
    "❤\ufe0f",  # variation selector
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland flag: tag characters
    "\ue000 private use",
    "\U000323af",  # unassigned today; tomorrow's emoji must not be refused
    "nbsp\u00a0and\u3000ideographic space",
]

REFUSED_EVERYWHERE = {
    "nul": "a\x00b",
    "escape": "\x1b[31mred",
    "bell": "ding\x07",
    "tab": "tab\there",
    "carriage return": "cr\rlf",
    "vertical tab": "vt\x0b",
    "delete": "del\x7f",
    "C1 next line": "next\x85line",
    "C1 CSI": "\x9b31m",
    "line separator": "a\u2028b",
    "paragraph separator": "a\u2029b",
    "right-to-left override": "photo\u202egpj.exe",
    "left-to-right embedding": "\u202aembedded",
    "pop directional formatting": "pop\u202c",
    "right-to-left isolate": "\u2067isolated\u2069",
    "first strong isolate": "\u2068x",
    "lone surrogate": "half \ud83d",
}


@pytest.mark.parametrize("value", ALLOWED)
@pytest.mark.parametrize("multiline", [False, True])
def test_text_of_every_script_and_emoji_is_allowed(value: str, multiline: bool) -> None:
    assert text_problem(value, 100, multiline=multiline) is None


@pytest.mark.parametrize("value", list(REFUSED_EVERYWHERE.values()), ids=list(REFUSED_EVERYWHERE))
@pytest.mark.parametrize("multiline", [False, True])
def test_controls_separators_bidi_overrides_and_surrogates_are_refused(value: str, multiline: bool) -> None:
    problem = text_problem(value, 100, multiline=multiline)
    assert problem is not None
    offender = next(c for c in value if text_problem(c, 1, multiline=multiline))
    assert f"U+{ord(offender):04X} at character {value.index(offender)}" in problem


def test_newline_only_in_multi_line_fields() -> None:
    assert text_problem("two\nlines", 100, multiline=True) is None
    assert text_problem("two\nlines", 100) == "must be a single line (U+000A at character 3)"


def test_length_counts_code_points() -> None:
    assert text_problem("é" * 5, 5) is None
    assert text_problem("🌸" * 5, 5) is None
    assert text_problem("x" * 6, 5) == "must be at most 5 characters"


def test_violations_name_each_field_the_rule_refuses() -> None:
    violations = Violations()
    violations.check_text("title", "\x1b[31mred", 300)
    violations.check_text("location", "fine", 200)
    violations.check_text("tags[2]", "nul\x00", 100)
    with pytest.raises(InvalidArgument) as caught:
        violations.raise_if_any()
    assert [field for field, _ in caught.value.violations] == ["title", "tags[2]"]
    assert caught.value.violations[0][1] == "must not contain control characters (U+001B at character 0)"
