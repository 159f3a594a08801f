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


def _rank(seed: int, content_key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{content_key}".encode()).hexdigest()


def _counts(total: int, splits: tuple[Split, ...], ratios: Mapping[Split, float]) -> dict[Split, int]:
    """Largest-remainder apportionment, so a group's split sizes match the ratios exactly."""
    weights = {split: ratios.get(split, 0.0) for split in splits}
    weight_sum = sum(weights.values())
    if weight_sum <= 0:
        weights = dict.fromkeys(splits, 1.0)
        weight_sum = float(len(splits))
    exact = {split: total * weight / weight_sum for split, weight in weights.items()}
    counts = {split: int(value) for split, value in exact.items()}
    leftover = total - sum(counts.values())
    by_remainder = sorted(splits, key=lambda split: (-(exact[split] - counts[split]), splits.index(split)))
    for split in by_remainder[:leftover]:
        counts[split] += 1
    return counts


def assign_splits(
    requests: Sequence[SplitRequest], *, seed: int, ratios: Mapping[Split, float] = DEFAULT_RATIOS
) -> list[Split]:
    """Return one split per request, in request order.

    Rows are ordered by a hash of (seed, content), not by file position, so re-ordering a file keeps
    every row in the same split, and the same seed always reproduces the same assignment. Rows that
    may only go to some splits (an uploaded split column) are apportioned among those splits alone.
    """
    result: list[Split | None] = [None] * len(requests)
    groups: dict[tuple[Split, ...], list[int]] = {}
    for position, request in enumerate(requests):
        groups.setdefault(request.allowed, []).append(position)
    for allowed, positions in groups.items():
        if len(allowed) == 1:
            for position in positions:
                result[position] = allowed[0]
            continue
        ordered = sorted(positions, key=lambda p: (_rank(seed, requests[p].content_key), p))
        counts = _counts(len(ordered), allowed, ratios)
        cursor = 0
        for split in allowed:
            for position in ordered[cursor : cursor + counts[split]]:
                result[position] = split
            cursor += counts[split]
    return [split for split in result if split is not None]
