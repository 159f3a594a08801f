"""The parent of an iteration: a prompt of the beam's Pareto front over validation rows, drawn by its best rows."""

from __future__ import annotations

import random
from collections import Counter

from prompts.content import PromptContent
from workflows.engine.pareto import best_rows, parent_choice, pareto_front
from workflows.engine.state import CandidateState


def _candidate(name: str, scores: dict[int, float | None]) -> CandidateState:
    candidate = CandidateState.of(PromptContent(template=f"{name}: {{{{text}}}}"))
    candidate.validation = dict(scores)
    present = [score for score in scores.values() if score is not None]
    candidate.validation_score = sum(present) / len(present) if present else None
    return candidate


def test_a_row_counts_for_every_candidate_with_its_top_score_and_a_row_nobody_got_counts_for_no_one():
    first = _candidate("first", {1: 1.0, 2: 0.0, 3: 0.0, 4: 0.5})
    second = _candidate("second", {1: 1.0, 2: 1.0, 3: 0.0, 4: None})
    rows = best_rows([first, second])
    assert rows[first.key] == {1, 4}
    assert rows[second.key] == {1, 2}


def test_a_candidate_whose_best_rows_another_contains_is_off_the_front_and_of_equals_the_first_stays():
    incumbent = _candidate("incumbent", {1: 1.0, 2: 1.0, 3: 0.0, 4: 0.0})
    dominated = _candidate("dominated", {1: 1.0, 2: 0.0, 3: 0.0, 4: 0.0})
    twin = _candidate("twin", {1: 1.0, 2: 1.0, 3: 0.0, 4: 0.0})
    different = _candidate("different", {1: 0.0, 2: 0.0, 3: 1.0, 4: 0.0})
    front = pareto_front([incumbent, dominated, twin, different])
    assert front == {incumbent.key: frozenset({1, 2}), different.key: frozenset({3})}


def test_without_a_beam_or_a_row_anyone_got_the_parent_is_the_incumbent():
    incumbent = _candidate("incumbent", {1: 0.0, 2: 0.0})
    assert parent_choice(incumbent, [], random.Random(0)) is incumbent
    nobody = _candidate("nobody", {1: 0.0, 2: 0.0})
    assert parent_choice(incumbent, [nobody], random.Random(0)) is incumbent


def test_the_parent_is_drawn_from_the_front_in_proportion_to_the_rows_each_is_best_on():
    incumbent = _candidate("incumbent", {row: 1.0 if row < 6 else 0.0 for row in range(8)})
    other = _candidate("other", {row: 1.0 if row >= 6 else 0.0 for row in range(8)})
    dominated = _candidate("dominated", {row: 1.0 if row == 0 else 0.0 for row in range(8)})
    beam = [incumbent, other, dominated]  # the beam holds the incumbent too; it is counted once
    draws = Counter(parent_choice(incumbent, beam, random.Random(seed)).key for seed in range(400))
    assert set(draws) == {incumbent.key, other.key}
    assert 0.15 < draws[other.key] / 400 < 0.35  # best on 2 of the 8 rows the front covers: a quarter


def test_a_beam_prompt_that_gets_right_what_the_incumbent_misses_is_the_parent_when_the_incumbent_gets_nothing():
    incumbent = _candidate("incumbent", {1: 0.0, 2: 0.0})
    other = _candidate("other", {1: 1.0, 2: 0.0})
    assert parent_choice(incumbent, [other], random.Random(0)) is other


def test_only_rows_every_prompt_was_scored_on_count_so_a_longer_look_earns_no_weight_by_itself():
    # The incumbent's close decisions scored it on rows 5-8 as well; the other prompt was scored on 1-4 only.
    incumbent = _candidate("incumbent", {1: 1.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 1.0, 6: 1.0, 7: 1.0, 8: 1.0})
    other = _candidate("other", {1: 0.0, 2: 1.0, 3: 1.0, 4: 0.0})
    assert pareto_front([incumbent, other]) == {incumbent.key: frozenset({1}), other.key: frozenset({2, 3})}
