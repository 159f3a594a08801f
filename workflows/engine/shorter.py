"""The cheapest prompt within noise of the best: what a run with `prefer: shorter` promotes, and what every
run's report shows beside the best, with the prompt tokens each costs per call.

A prompt validated during the search qualifies when, on the validation rows it shares with each:
- it beat the baseline beyond noise (the rule every promoted prompt meets: the paired interval of its gain
  lies above zero), and
- it is not significantly below the best (the incumbent): the paired interval of its difference reaches zero,
- and it costs fewer prompt tokens per call than the best (the provider's own counts, on the shared rows).
The qualifying prompt with the fewest tokens is the cheapest within noise. No model call is made: the scores
and token counts are already in the search state, so the choice is the same however often it is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workflows.engine.state import CandidateState, EngineState
from workflows.stats import compare_paired

# Fewer shared rows than this say nothing about a difference (the bootstrap needs some spread).
MIN_SHARED_ROWS = 2


@dataclass(frozen=True)
class WinnerChoice:
    """The best prompt and, when one qualifies, the cheapest within noise of it, with their prompt tokens
    per call (mean over the validation rows the two share; the best's over its own rows when alone)."""

    best: CandidateState
    best_tokens: float | None
    cheapest: CandidateState | None = None
    cheapest_tokens: float | None = None

    def winner(self, prefer: str) -> CandidateState:
        return self.cheapest if prefer == "shorter" and self.cheapest is not None else self.best


def winner_choice(state: EngineState, *, confidence: float, seed: int) -> WinnerChoice:
    best = state.incumbent
    alone = WinnerChoice(best=best, best_tokens=_mean_tokens(best, list(best.validation_tokens)))
    if best.key == state.baseline.key:
        return alone  # nothing beat the baseline beyond noise, so nothing else qualifies
    options: list[tuple[float, float, CandidateState, float]] = []
    for candidate in _validated_others(state):
        shared = _shared_rows(candidate, best)
        tokens, best_tokens = _mean_tokens(candidate, shared), _mean_tokens(best, shared)
        if tokens is None or best_tokens is None or tokens >= best_tokens:
            continue
        if not _beats(candidate, state.baseline, confidence=confidence, seed=seed):
            continue
        if _significantly_below(candidate, best, shared, confidence=confidence, seed=seed):
            continue
        options.append((tokens, -(candidate.validation_score or 0.0), candidate, best_tokens))
    if not options:
        return alone
    tokens, _score, cheapest, best_tokens = min(options, key=lambda option: (option[0], option[1], option[2].key))
    return WinnerChoice(best=best, best_tokens=best_tokens, cheapest=cheapest, cheapest_tokens=tokens)


def _validated_others(state: EngineState) -> list[CandidateState]:
    excluded = {state.baseline.key, state.incumbent.key}
    unique: dict[str, CandidateState] = {}
    for candidate in (*state.history, *state.beam):
        if candidate.key not in excluded and candidate.validation_score is not None:
            # The later copy of a candidate (the beam's) holds every row it was scored on.
            unique[candidate.key] = candidate
    return list(unique.values())


def _shared_rows(first: CandidateState, second: CandidateState) -> list[int]:
    return sorted(
        example_id
        for example_id, score in first.validation.items()
        if score is not None and second.validation.get(example_id) is not None
    )


def _mean_tokens(candidate: CandidateState, rows: Sequence[int]) -> float | None:
    counts = [candidate.validation_tokens[row] for row in rows if row in candidate.validation_tokens]
    if not counts or len(counts) < len(rows):
        return None  # the provider did not count every row: no fair comparison
    return sum(counts) / len(counts)


def _beats(candidate: CandidateState, baseline: CandidateState, *, confidence: float, seed: int) -> bool:
    shared = _shared_rows(candidate, baseline)
    if len(shared) < MIN_SHARED_ROWS:
        return False
    comparison = compare_paired(
        [baseline.validation[row] or 0.0 for row in shared],
        [candidate.validation[row] or 0.0 for row in shared],
        confidence=confidence,
        seed=seed,
    )
    return comparison.difference.low > 0


def _significantly_below(
    candidate: CandidateState, best: CandidateState, shared: Sequence[int], *, confidence: float, seed: int
) -> bool:
    if len(shared) < MIN_SHARED_ROWS:
        return True  # no evidence that it keeps up
    comparison = compare_paired(
        [best.validation[row] or 0.0 for row in shared],
        [candidate.validation[row] or 0.0 for row in shared],
        confidence=confidence,
        seed=seed,
    )
    return comparison.difference.high < 0
