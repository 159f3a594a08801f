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
    """Per candidate key, the validation rows on which it scores the best any candidate scored there.

    Only rows every candidate was scored on count: prompts are validated on prefixes of different lengths (a
    close decision looks at more rows), and a row only some were scored on would favour them for their
    coverage, not their answers. Rows nobody got any credit on say nothing about who is better either."""
    shared = set.intersection(*(set(candidate.validation) for candidate in candidates)) if candidates else set()
    top: dict[int, float] = {}
    for row in shared:
        scores = [candidate.validation[row] or 0.0 for candidate in candidates]
        if max(scores) > 0:
            top[row] = max(scores)
    return {
        candidate.key: frozenset(row for row, best in top.items() if (candidate.validation[row] or 0.0) >= best)
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
    keys = list(front)  # in pool order: the front keeps its candidates' order
    chosen = rng.choices(keys, weights=[len(front[key]) for key in keys])[0]
    return next(candidate for candidate in pool if candidate.key == chosen)
