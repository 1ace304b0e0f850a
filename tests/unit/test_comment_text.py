import pytest

from services.comment.service import MAX_TEXT_CHARS, clean_text
from services.runtime.errors import InvalidArgument


def test_text_is_trimmed_and_keeps_newlines_and_unicode() -> None:
    assert clean_text("  hello\nworld  \n") == "hello\nworld"
    assert clean_text("📷 très joli") == "📷 très joli"
    assert clean_text("x" * MAX_TEXT_CHARS) == "x" * MAX_TEXT_CHARS
    assert clean_text("  " + "é" * MAX_TEXT_CHARS + "\n ") == "é" * MAX_TEXT_CHARS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "x" * (MAX_TEXT_CHARS + 1),
        "tab\there",
        "nul\x00",
        "bell\x07",
        "cr\rlf",
        "esc\x1b[31m",
        "next\x85line",
    ],
)
def test_bad_text_is_invalid_argument_naming_text(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        clean_text(text)
    assert [field for field, _ in caught.value.violations] == ["text"]
