"""Split assignment: deterministic, stable when rows come and go, faithful to ratios and to allowed splits."""

from __future__ import annotations

from collections import Counter

from prompts.splits import ALL_SPLITS, Split, SplitRequest, assign_splits, row_content_key


def _requests(count: int, prefix: str = "row") -> list[SplitRequest]:
    return [SplitRequest(content_key=row_content_key({"text": f"{prefix} {i}"}, "label")) for i in range(count)]


def test_it_gives_the_same_splits_for_the_same_seed_and_different_ones_for_another():
    rows = _requests(200)

    assert assign_splits(rows, seed=1) == assign_splits(rows, seed=1)
    assert assign_splits(rows, seed=1) != assign_splits(rows, seed=2)


def test_it_never_moves_a_kept_row_when_rows_are_added_or_removed():
    original = _requests(100)
    grown = original[::2] + _requests(50, prefix="new")  # half the rows removed, fifty added

    before = dict(zip([r.content_key for r in original], assign_splits(original, seed=0), strict=True))
    after = dict(zip([r.content_key for r in grown], assign_splits(grown, seed=0), strict=True))

    assert all(after[key] == before[key] for key in after if key in before)


def test_it_follows_the_ratios_on_a_large_dataset():
    counts = Counter(assign_splits(_requests(20_000), seed=0))

    shares = {split: counts[split] / 20_000 for split in ALL_SPLITS}
    assert abs(shares[Split.TRAIN] - 0.4) < 0.015
    assert abs(shares[Split.VALIDATION] - 0.3) < 0.015
    assert abs(shares[Split.TEST] - 0.3) < 0.015


def test_it_keeps_rows_within_their_allowed_splits():
    pinned = [SplitRequest(content_key=f"t{i}", allowed=(Split.TEST,)) for i in range(50)]
    pool = [SplitRequest(content_key=f"p{i}", allowed=(Split.TRAIN, Split.VALIDATION)) for i in range(2000)]

    splits = assign_splits(pinned + pool, seed=0)

    assert set(splits[:50]) == {Split.TEST}
    pool_counts = Counter(splits[50:])
    assert set(pool_counts) == {Split.TRAIN, Split.VALIDATION}
    # train:validation keeps its 40:30 proportion inside the pool
    assert abs(pool_counts[Split.TRAIN] / 2000 - 4 / 7) < 0.04
