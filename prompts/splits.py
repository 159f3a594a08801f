"""Deterministic train / validation / test assignment for dataset rows (plain Python, no Django)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Split(StrEnum):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"


ALL_SPLITS: tuple[Split, ...] = (Split.TRAIN, Split.VALIDATION, Split.TEST)

# Validation gets a large share on purpose: promotion decisions are significance tests on it,
# and a tiny validation split makes every improvement look like noise.
DEFAULT_RATIOS: Mapping[Split, float] = {Split.TRAIN: 0.4, Split.VALIDATION: 0.3, Split.TEST: 0.3}

# Names people commonly use for the three splits in uploaded files.
SPLIT_ALIASES: Mapping[str, Split] = {
    "train": Split.TRAIN,
    "training": Split.TRAIN,
    "validation": Split.VALIDATION,
    "valid": Split.VALIDATION,
    "val": Split.VALIDATION,
    "dev": Split.VALIDATION,
    "test": Split.TEST,
    "testing": Split.TEST,
}


@dataclass(frozen=True)
class SplitRequest:
    """One row to place: its identity for hashing, and the splits it may go to."""

    content_key: str
    allowed: tuple[Split, ...] = ALL_SPLITS


def row_content_key(inputs: Mapping[str, str], expected_output: str) -> str:
    """Canonical text of a row's content; the same row always hashes the same way."""
    return json.dumps({"inputs": dict(inputs), "expected": expected_output}, sort_keys=True, ensure_ascii=False)


def _position(seed: int, content_key: str) -> float:
    """A row's fixed place in [0, 1), from the seed and its content alone."""
    digest = hashlib.sha256(f"{seed}\x00{content_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _split_for(position: float, allowed: tuple[Split, ...], ratios: Mapping[Split, float]) -> Split:
    weights = [max(ratios.get(split, 0.0), 0.0) for split in allowed]
    total = sum(weights)
    if total <= 0:
        weights, total = [1.0] * len(allowed), float(len(allowed))
    cumulative = 0.0
    for split, weight in zip(allowed, weights, strict=True):
        cumulative += weight / total
        if position < cumulative:
            return split
    return allowed[-1]  # position is below 1.0, but float sums can fall a hair short of it


def assign_splits(
    requests: Sequence[SplitRequest], *, seed: int, ratios: Mapping[Split, float] = DEFAULT_RATIOS
) -> list[Split]:
    """Return one split per request, in request order.

    Each row's split depends only on the seed, its content and the splits it may go to — never on the
    other rows. So re-ordering a file keeps every row where it was, and a later dataset version that
    adds or removes rows never moves a kept row from test or validation into train: held-out data stays
    held out across versions. The price is that split sizes match the ratios only on average (a
    80-row file may get 30/26/24 rather than 32/24/24).
    """
    return [_split_for(_position(seed, request.content_key), request.allowed, ratios) for request in requests]


# (value, label) pairs for model and form fields; one list, so the API schema shows one split enum.
SPLIT_CHOICES = [(split.value, split.value.title()) for split in ALL_SPLITS]
