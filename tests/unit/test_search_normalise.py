"""Normalisation: the index and the query fold text the same way."""

from __future__ import annotations

import pytest

from services.runtime.normalise import Term, TermKind, document_terms, fold, query_terms, tag_key, words


@pytest.mark.parametrize("spelling", ["café", "CAFE", "Café", "cafe", "CAFÉ", "ｃａｆé", "Ｃａｆｅ", "cafe\u0301"])
def test_every_spelling_of_cafe_folds_to_one_key(spelling: str) -> None:
    assert words(spelling) == ["cafe"]


def test_nfkc_turns_compatibility_forms_into_plain_letters() -> None:
    assert fold("ｆｕｌｌｗｉｄｔｈ") == "fullwidth"
    assert fold("ﬁsh") == "fish"  # the fi ligature
    assert fold("①") == "1"


def test_case_folding_is_full_not_just_lower() -> None:
    assert fold("Straße") == fold("STRASSE") == "strasse"


def test_punctuation_and_symbols_split_words() -> None:
    assert words("Sunset, over the bay! (2024)") == ["sunset", "over", "the", "bay", "2024"]
    assert words("rock'n'roll—live…") == ["rock", "n", "roll", "live"]
    assert words("   ") == []
    assert words("!!! ???") == []


def test_non_latin_scripts_keep_their_letters() -> None:
    assert words("Москва Ёлка") == ["москва", "елка"]
    assert words("東京タワー") == ["東京タワー"]
    # Spacing vowel signs stay inside the word; non-spacing marks (here the virama) are dropped.
    assert len(words("नमस्ते दुनिया")) == 2
    assert words("שָׁלוֹם עולם") == ["שלום", "עולם"]  # pointed and unpointed Hebrew meet


@pytest.mark.parametrize("tag", ["#Tag", "tag", "#TAG", "##tag", "＃ｔａｇ", " #tag "])
def test_hash_and_case_do_not_change_a_tag(tag: str) -> None:
    assert tag_key(tag) == "tag"


def test_multi_word_tags_join_into_one_key() -> None:
    assert tag_key("#NewYork") == tag_key("new-york") == tag_key("New York") == "newyork"
    assert tag_key("#") == ""


def test_document_terms_cover_tags_title_words_and_location() -> None:
    terms = document_terms("Café at dawn", "Paris, France", ["#Coffee", "morning-light"])
    assert Term(TermKind.TAG, "coffee") in terms
    assert Term(TermKind.TAG, "morninglight") in terms
    for word in ("cafe", "at", "dawn", "coffee", "morning", "light", "morninglight"):
        assert Term(TermKind.WORD, word) in terms
    assert Term(TermKind.LOCATION, "paris") in terms
    assert Term(TermKind.LOCATION, "france") in terms
    assert Term(TermKind.WORD, "paris") not in terms
    assert len(terms) == len(set(terms))


def test_query_terms_match_document_terms() -> None:
    document = set(document_terms("CAFÉ AT DAWN", "Ｐａｒｉｓ", ["#Coffee"]))
    query = query_terms("coffee", "cafe dawn", "paris")
    assert query == sorted(query)
    assert set(query) <= document
    assert query_terms("", "", "") == []
