"""Text → index terms. The same functions build the index and read the query, so they always agree.

Folding: NFKC (full-width and compatibility forms become plain letters), case folding (`ß` → `ss`),
then NFKD with the non-spacing marks dropped, so `Café`, `CAFE` and `cafe` share one key. Words are
runs of letters, digits and spacing marks; everything else (spaces, punctuation, symbols, `#`) splits
them. A tag's key is its words joined, so `#NewYork`, `new-york` and `New York` are one tag.

Scripts written without spaces (Chinese, Japanese, Thai) come out as one word per run; a segmenter
for them is future work. Dropping non-spacing marks also merges some distinct words in scripts that
use them for vowels (Hebrew points, Arabic harakat): recall over precision, and both sides agree.
"""

from __future__ import annotations

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


def document_terms(title: str, location: str, tags: Iterable[str]) -> list[Term]:
    """Every term a photo is indexed under: its tags, the words of its title and tags, its location words."""
    terms: list[Term] = []
    for tag in tags:
        key = tag_key(tag)
        if key:
            terms.append(Term(TermKind.TAG, key))
            terms.append(Term(TermKind.WORD, key))
            terms.extend(Term(TermKind.WORD, word) for word in words(tag))
    terms.extend(Term(TermKind.WORD, word) for word in words(title))
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
