"""The cheapest prompt within noise of the best: what a run with `prefer: shorter` promotes, and what every
run's report shows beside the best, with the prompt tokens each costs per call.

A prompt validated during the search qualifies when, on the validation rows it shares with each:
- it beat the baseline beyond noise: the paired interval of its gain lies above zero, at a confidence
  split across all the prompts tested (Bonferroni), so testing many prompts does not let a lucky one through.
  (This is the interval rule even where the run accepted incumbents by `min_gain`: a prompt promoted for being
  shorter must show its gain over the baseline, not only a mean.)
- it is not significantly below the best (the incumbent): the paired interval of its difference reaches zero,
- it shares at least MIN_SHARED_ROWS rows with the best (fewer when the best has fewer), and
- it sends fewer prompt tokens per call than the best (the provider's own counts, row by row on the shared
  rows; output tokens are not compared).
The qualifying prompt that saves the most tokens per call is the cheapest within noise. No model call is
made: the scores and token counts are already in the search state, so the choice is the same however often
it is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workflows.engine.state import CandidateState, EngineState
from workflows.stats import compare_paired

# The plan's smallest validation sample: fewer shared rows say little about a difference.
MIN_SHARED_ROWS = 20


@dataclass(frozen=True)
class WinnerChoice:
    """The best prompt and, when one qualifies, the cheapest within noise of it, with their prompt tokens
    per call: the best's mean over its validation rows, the cheapest's that less what it saves per call."""

    best: CandidateState
    best_tokens: float | None
    cheapest: CandidateState | None = None
    cheapest_tokens: float | None = None

    def winner(self, prefer: str) -> CandidateState:
        return self.cheapest if prefer == "shorter" and self.cheapest is not None else self.best


def winner_choice(state: EngineState, *, confidence: float, seed: int) -> WinnerChoice:
    best = state.incumbent
    best_tokens = _mean_tokens(best, sorted(best.validation_tokens))
    alone = WinnerChoice(best=best, best_tokens=best_tokens)
    if best.key == state.baseline.key or best_tokens is None:
        return alone  # nothing beat the baseline beyond noise; or no token counts to compare
    enough_rows = min(MIN_SHARED_ROWS, len(best.validation))
    cheaper: list[tuple[float, CandidateState]] = []
    for candidate in _validated_others(state):
        shared = _shared_rows(candidate, best)
        saving = _saving(candidate, best, shared)
        if saving is None or saving <= 0 or len(shared) < enough_rows:
            continue
        if _significantly_below(candidate, best, shared, confidence=confidence, seed=seed):
            continue
        cheaper.append((saving, candidate))
    # Each remaining prompt is tested against the baseline: the error rate is split across the tests.
    split_confidence = 1.0 - (1.0 - confidence) / max(1, len(cheaper))
    options = [
        (saving, candidate)
        for saving, candidate in cheaper
        if _beats(candidate, state.baseline, confidence=split_confidence, seed=seed)
    ]
    if not options:
        return alone
    saving, cheapest = max(options, key=lambda option: (option[0], option[1].validation_score or 0.0, option[1].key))
    return WinnerChoice(best=best, best_tokens=best_tokens, cheapest=cheapest, cheapest_tokens=best_tokens - saving)


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


def _saving(candidate: CandidateState, best: CandidateState, rows: Sequence[int]) -> float | None:
    """Prompt tokens per call the candidate saves against the best, row by row on `rows` (None: not counted),
    so prompts validated on different rows are ranked by what they save, not by their rows' input lengths."""
    counted = [row for row in rows if row in candidate.validation_tokens and row in best.validation_tokens]
    if not counted or len(counted) < len(rows):
        return None
    return sum(best.validation_tokens[row] - candidate.validation_tokens[row] for row in counted) / len(counted)


def _mean_tokens(candidate: CandidateState, rows: Sequence[int]) -> float | None:
    counts = [candidate.validation_tokens[row] for row in rows if row in candidate.validation_tokens]
    if not counts or len(counts) < len(rows):
        return None  # the provider did not count every row: no fair comparison
    return sum(counts) / len(counts)


def _beats(candidate: CandidateState, baseline: CandidateState, *, confidence: float, seed: int) -> bool:
    shared = _shared_rows(candidate, baseline)
    if len(shared) < 2:
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
    if len(shared) < 2:
        return True  # no evidence that it keeps up
    comparison = compare_paired(
        [best.validation[row] or 0.0 for row in shared],
        [candidate.validation[row] or 0.0 for row in shared],
        confidence=confidence,
        seed=seed,
    )
    return comparison.difference.high < 0
