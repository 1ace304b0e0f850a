"""#hashtags and @mentions of a caption, parsed by the normalisation search uses (services.runtime.normalise)."""

from __future__ import annotations

import pytest

from services.runtime.normalise import Term, TermKind, hashtags, mentions, query_terms, tag_key


@pytest.mark.parametrize(
    ("caption", "tags"),
    [
        ("Sunset #beach #Sunset at #plage_du_midi", ["beach", "Sunset", "plage_du_midi"]),
        ("#Café and #CAFE and #cafe", ["Café"]),  # one tag key: the first spelling is kept
        ("東京 #東京タワー!", ["東京タワー"]),
        ("#ÉTÉ2026,#summer.", ["ÉTÉ2026", "summer"]),
        ("a#b c##d # #-", []),  # glued to a word, doubled, or empty: no tag
        ("#١٢٣ #ñandú", ["١٢٣", "ñandú"]),
        ("", []),
    ],
)
def test_hashtags_are_unicode_words_after_a_hash(caption: str, tags: list[str]) -> None:
    assert hashtags(caption) == tags


def test_a_caption_hashtag_is_the_tag_search_finds() -> None:
    (tag,) = hashtags("Morning in #NewYörk")
    assert Term(TermKind.TAG, tag_key(tag)) in query_terms("#newyork", "", "")


@pytest.mark.parametrize(
    ("caption", "names"),
    [
        ("with @Alice and @bob.smith, thanks @carol.", ["alice", "bob.smith", "carol"]),
        ("@ALICE @alice", ["alice"]),
        ("mail me@example.com or @@x @ab", []),  # glued, doubled, too short
        ("@" + "a" * 31, []),  # longer than any username
        ("(@dave_99)", ["dave_99"]),
    ],
)
def test_mentions_are_usernames_after_an_at(caption: str, names: list[str]) -> None:
    assert mentions(caption) == names
