"""Short, readable fragments for feedback sentences: quoted excerpts and "closest to" hints."""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz, process

_QUOTE_LIMIT = 80
# Below this similarity (0-100) a suggestion would mislead the optimizer more than it helps.
_HINT_CUTOFF = 60.0


def quote(text: str, limit: int = _QUOTE_LIMIT) -> str:
    """Text in single quotes, line breaks made visible and long texts cut, for use inside one sentence."""
    visible = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    if len(visible) > limit:
        visible = visible[: limit - 1] + "…"
    return f"'{visible}'"


def quote_all(texts: Sequence[str], limit: int = 5) -> str:
    quoted = ", ".join(quote(text) for text in texts[:limit])
    return quoted + (f" and {len(texts) - limit} more" if len(texts) > limit else "")


def closest(query: str, candidates: Sequence[str], *, compare: Sequence[str] | None = None) -> str | None:
    """The candidate most similar to the query, if any is similar enough to be worth naming.

    `compare` holds the strings actually compared (e.g. normalised forms), index for index with the
    candidates that are returned.
    """
    if not query or not candidates:
        return None
    match = process.extractOne(query, list(compare or candidates), scorer=fuzz.ratio, score_cutoff=_HINT_CUTOFF)
    return None if match is None else candidates[match[2]]
