"""Text → index terms, and the #hashtags and @mentions of a caption. The same functions build the search
index, read its queries and parse captions (photo service), so a caption's tag is the tag search finds.

Folding: NFKC (full-width and compatibility forms become plain letters), case folding (`ß` → `ss`),
then NFKD with the non-spacing marks dropped, so `Café`, `CAFE` and `cafe` share one key. Words are
runs of letters, digits and spacing marks; everything else (spaces, punctuation, symbols, `#`) splits
them. A tag's key is its words joined, so `#NewYork`, `new-york` and `New York` are one tag.

Scripts written without spaces (Chinese, Japanese, Thai) come out as one word per run; a segmenter
for them is future work. Dropping non-spacing marks also merges some distinct words in scripts that
use them for vowels (Hebrew points, Arabic harakat): recall over precision, and both sides agree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class TermKind(StrEnum):
    """The three posting lists a photo is filed under."""

    TAG = "tag"
    WORD = "word"
    LOCATION = "loc"


@dataclass(frozen=True, order=True)
class Term:
    kind: TermKind
    text: str


def fold(text: str) -> str:
    """The index form of a piece of text: compatibility-composed, case-folded, marks stripped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


def words(text: str) -> list[str]:
    """The folded words of `text`, in order, duplicates kept."""
    found: list[str] = []
    current: list[str] = []
    for char in fold(text):
        if _is_word_char(char):
            current.append(char)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def tag_key(tag: str) -> str:
    """One tag's key: `#Café-Bar` → `cafebar`; empty when the tag has no letters or digits."""
    return "".join(words(tag))


def _unique(terms: Iterable[Term]) -> list[Term]:
    return sorted(set(terms))


def document_terms(title: str, location: str, tags: Iterable[str], caption: str = "") -> list[Term]:
    """Every term a photo is indexed under: its tags, the words of its title, caption and tags, its location
    words."""
    terms: list[Term] = []
    for tag in tags:
        key = tag_key(tag)
        if key:
            terms.append(Term(TermKind.TAG, key))
            terms.append(Term(TermKind.WORD, key))
            terms.extend(Term(TermKind.WORD, word) for word in words(tag))
    terms.extend(Term(TermKind.WORD, word) for word in words(title))
    terms.extend(Term(TermKind.WORD, word) for word in words(caption))
    terms.extend(Term(TermKind.LOCATION, word) for word in words(location))
    return _unique(terms)


def query_terms(tag: str, text: str, location: str) -> list[Term]:
    """The terms a query needs every hit to have (an empty list matches nothing)."""
    terms: list[Term] = []
    if key := tag_key(tag):
        terms.append(Term(TermKind.TAG, key))
    terms.extend(Term(TermKind.WORD, word) for word in words(text))
    terms.extend(Term(TermKind.LOCATION, word) for word in words(location))
    return _unique(terms)


# A mention is a username as the user service allows it (3–30 ASCII letters, digits, '_' or '.').
_MENTION = re.compile(r"@([A-Za-z0-9_.]{3,30})(?![A-Za-z0-9_.])")


def hashtags(text: str) -> list[str]:
    """The #hashtags of `text` as written (`#NewYork` → `NewYork`), first spelling of each tag key kept.

    A tag is '#' then a run of letters, digits, marks or '_' (any script), not glued to a word before it
    (`a#b` is no tag); folding decides sameness, so `#Café` and `#CAFE` are one tag."""
    found: dict[str, str] = {}
    index = 0
    while (start := text.find("#", index)) != -1:
        end = start + 1
        while end < len(text) and (_is_word_char(text[end]) or text[end] == "_"):
            end += 1
        glued = start > 0 and (_is_word_char(text[start - 1]) or text[start - 1] in "_#")
        tag = text[start + 1 : end]
        if not glued and (key := tag_key(tag)):
            found.setdefault(key, tag)
        index = max(end, start + 1)
    return list(found.values())


def mentions(text: str) -> list[str]:
    """The @usernames of `text`, lower-cased (usernames are case-insensitive ASCII), in order, once each.

    Not glued to a word before it (`me@example.com` mentions no one); a trailing '.' ends the sentence,
    not the name (`thanks @bob.`)."""
    found: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        start = match.start()
        if start > 0 and (_is_word_char(text[start - 1]) or text[start - 1] in "_.@"):
            continue
        name = match.group(1).rstrip(".")
        if len(name) >= 3:
            found.setdefault(name.lower(), None)
    return list(found)
