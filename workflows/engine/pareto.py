"""Which validated prompt an iteration improves: one from the Pareto front of the beam over validation rows.

Improving only the incumbent climbs one hill: every proposal inherits its blind spots. GEPA's remedy, used here:
a prompt is on the front when it is among the best on some validation row that nobody else in the beam gets
equally right on a larger set of rows; the parent of an iteration is drawn from the front with a probability
proportional to the rows it is best on. The incumbent, usually best on most rows, is drawn most often; a
prompt that gets right what the incumbent misses gets its turn too. Acceptance does not change: a proposal
still replaces the incumbent only when it beats the incumbent beyond noise.

Only validation *scores* are read (no validation example reaches a strategy), and the draw is seeded per
iteration, so a resumed run picks the same parent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from workflows.engine.state import CandidateState


def best_rows(candidates: Sequence[CandidateState]) -> dict[str, frozenset[int]]:
    """Per candidate key, the validation rows on which it scores the best any candidate scored there. Rows
    nobody got any credit on say nothing about who is better, so they count for no one."""
    top: dict[int, float] = {}
    for candidate in candidates:
        for row, score in candidate.validation.items():
            if score is not None and score > top.get(row, 0.0):
                top[row] = score
    return {
        candidate.key: frozenset(
            row for row, score in candidate.validation.items() if score is not None and row in top and score >= top[row]
        )
        for candidate in candidates
    }


def pareto_front(candidates: Sequence[CandidateState]) -> dict[str, frozenset[int]]:
    """The candidates whose best rows no other candidate's best rows strictly contain (of two with the same
    rows, the first listed stays), with those rows; empty when no candidate is best anywhere."""
    rows = best_rows(candidates)
    front: dict[str, frozenset[int]] = {}
    for position, candidate in enumerate(candidates):
        mine = rows[candidate.key]
        if not mine:
            continue
        dominated = any(
            mine < rows[other.key] or (mine == rows[other.key] and other_position < position)
            for other_position, other in enumerate(candidates)
            if other.key != candidate.key
        )
        if not dominated:
            front[candidate.key] = mine
    return front


def parent_choice(incumbent: CandidateState, beam: Sequence[CandidateState], rng: random.Random) -> CandidateState:
    """The prompt this iteration proposes from: the incumbent first among equals, then the beam's other
    validated prompts, drawn from their Pareto front in proportion to the rows each is best on."""
    pool = [incumbent, *(candidate for candidate in beam if candidate.key != incumbent.key)]
    front = pareto_front(pool)
    if not front:
        return incumbent
    keys = sorted(front, key=lambda key: [candidate.key for candidate in pool].index(key))
    chosen = rng.choices(keys, weights=[len(front[key]) for key in keys])[0]
    return next(candidate for candidate in pool if candidate.key == chosen)
