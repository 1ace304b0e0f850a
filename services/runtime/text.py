"""The one rule for what a user-supplied string field may hold, used by every service.

Refused in every field, because each is invisible in the place the text ends up and does harm there:
- C0 and C1 control characters (U+0000–U+001F, U+007F–U+009F): NUL truncates strings in C code and
  some clients, ESC starts terminal escape sequences (a title that recolours an operator's terminal or
  log viewer), CR rewrites a line in a log, and none of them has a visible form.
- U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: line breaks in disguise, which single-line
  layouts and older JavaScript string literals do not expect.
- Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder the
  text after them, so an unclosed one spills into whatever a client renders next (spoofed names such
  as "photo‮gpj.exe", Trojan Source, CVE-2021-42574). The implicit marks LRM, RLM and ALM (U+200E,
  U+200F, U+061C) stay allowed: they neither nest nor spill, and right-to-left writers need them to
  place punctuation.
- Surrogates (U+D800–U+DFFF): not characters; no valid UTF-8 carries one, so only an in-process
  caller can produce them, and no store or client could take them.

Multi-line fields (a comment, a bio) may also hold "\n", the one line break; tabs and CR are refused
there too, so a text looks the same in every client. Everything else is allowed: every script, emoji
with their joiners (ZWJ U+200D) and variation selectors, flag tag sequences, private-use characters,
and code points newer than this Python's Unicode tables (new emoji arrive every year).

Passwords are not text in this sense: they are never shown or stored, only hashed, so they keep
whatever characters their owner chose.
"""

from __future__ import annotations

import unicodedata

NEWLINE = "\n"
_SEPARATORS = frozenset("\u2028\u2029")
_BIDI_FORMATTING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refusal(char: str, multiline: bool) -> str | None:
    """Why `char` may not appear, or None when it may."""
    if char == NEWLINE:
        return None if multiline else "must be a single line"
    category = unicodedata.category(char)
    if category == "Cc":
        return "must not contain control characters"
    if category == "Cs":
        return "must not contain surrogates"
    if char in _SEPARATORS:
        return "must not contain line or paragraph separators" + (" (use a newline)" if multiline else "")
    if char in _BIDI_FORMATTING:
        return "must not contain bidirectional embedding, override or isolate characters"
    return None


def text_problem(value: str, max_chars: int, *, multiline: bool = False) -> str | None:
    """What is wrong with `value` as the text of a field, or None when it is acceptable.

    Lengths count code points (what a client's character counter shows for almost all text). The
    problem names the first offending character and where it is, so a client can point at it.
    """
    if len(value) > max_chars:
        return f"must be at most {max_chars} characters"
    for index, char in enumerate(value):
        refusal = _refusal(char, multiline)
        if refusal is not None:
            return f"{refusal} (U+{ord(char):04X} at character {index})"
    return None
