"""Finding people by name: the terms a user is found under and how a query becomes a prefix of them.

Folding is search's (services.runtime.normalise.fold): case and accents do not matter, so `élo`, `ELO` and
`elo` all find Élodie. A user is found under their username, each word of their display name, and the
whole display name (so `alice lid` finds Alice Liddell). A prefix can match several of one user's terms;
each user is reported once, at the smallest term the prefix matches (`first_match`), which keeps pages in
(term, user_id) order without repeats.
"""

from __future__ import annotations

from services.runtime.normalise import fold, words

# A prefix is looked up in the partition of its first two characters (CQL), so it needs at least two.
MIN_PREFIX_CHARS = 2
# After any code point: the exclusive upper bound of a prefix range in UTF-8 (byte) order.
TOP = "\U0010ffff"


def name_terms(username: str, display_name: str) -> list[str]:
    """Every term the user is found under, sorted, each once."""
    name_words = words(display_name)
    terms = {fold(username), *name_words, " ".join(name_words)}
    return sorted(term for term in terms if term)


def query_prefix(query: str) -> str:
    """The folded prefix a query stands for: a leading '@' dropped, runs of spaces made one."""
    return " ".join(fold(query).strip().lstrip("@").split())


def first_match(terms: list[str], prefix: str) -> str | None:
    """The smallest of a user's terms that starts with `prefix`: where the user is listed for it."""
    return next((term for term in sorted(terms) if term.startswith(prefix)), None)


def bucket(term: str) -> str:
    return term[:MIN_PREFIX_CHARS]
