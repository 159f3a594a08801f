"""Text normalisation for answer comparison: SQuAD-style answers, choice labels, and their tokens."""

from __future__ import annotations

import re
import string
import unicodedata

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _without_punctuation(text: str) -> str:
    # SQuAD drops ASCII punctuation (which includes symbols such as $ and +); the Unicode punctuation
    # categories are added so curly quotes, « » and 。 do not make otherwise equal answers differ.
    return "".join(
        char for char in text if char not in _ASCII_PUNCTUATION and not unicodedata.category(char).startswith("P")
    )


def _folded(text: str) -> str:
    # NFKC maps full-width and compatibility forms onto plain ones; casefold also equates ß and ss.
    return unicodedata.normalize("NFKC", text).casefold()


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    return " ".join(_ARTICLES.sub(" ", _without_punctuation(_folded(text))).split())


def normalize_label(text: str) -> str:
    """Like normalize_answer but keeps articles, so that a choice labelled "A" does not vanish."""
    return " ".join(_without_punctuation(_folded(text)).split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether the normalised phrase occurs in the normalised text as whole words ("cat" is not in "concat")."""
    return f" {phrase} " in f" {text} "
