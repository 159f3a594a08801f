"""The cheapest prompt within noise of the best (workflows/engine/shorter.py): which prompts qualify, from
validation scores and provider token counts alone."""

from __future__ import annotations

from prompts.content import PromptContent
from workflows.engine.shorter import winner_choice
from workflows.engine.state import CandidateState, EngineState

ROWS = 40


def candidate(name: str, correct: int, tokens: int | None, *, rows: int = ROWS) -> CandidateState:
    """A validated prompt right on its first `correct` rows of `rows`, costing `tokens` per call."""
    state = CandidateState.of(PromptContent(template=f"{name}: {{{{text}}}}"), strategy="mutations")
    state.validation = {row: 1.0 if row < correct else 0.0 for row in range(rows)}
    state.validation_score = correct / rows
    state.validation_tokens = {row: tokens for row in range(rows)} if tokens is not None else {}
    return state


def search_state(best: CandidateState, *others: CandidateState, baseline_correct: int = 10) -> EngineState:
    baseline = candidate("baseline", baseline_correct, 20)
    return EngineState(baseline=baseline, incumbent=best, beam=[best], history=[best, *others])


def test_a_shorter_prompt_that_keeps_up_with_the_best_is_the_cheapest_within_noise():
    best, shorter = candidate("best", 36, 90), candidate("shorter", 35, 40)

    choice = winner_choice(search_state(best, shorter), confidence=0.95, seed=0)

    assert choice.cheapest is not None and choice.cheapest.key == shorter.key
    assert (choice.best_tokens, choice.cheapest_tokens) == (90.0, 40.0)
    assert choice.winner("shorter").key == shorter.key
    assert choice.winner("best").key == best.key  # the default keeps the best


def test_the_fewest_tokens_win_among_the_prompts_that_qualify():
    best = candidate("best", 36, 90)
    short, shortest = candidate("short", 36, 60), candidate("shortest", 34, 30)

    choice = winner_choice(search_state(best, short, shortest), confidence=0.95, seed=0)

    assert choice.cheapest is not None and choice.cheapest.key == shortest.key


def test_a_shorter_prompt_significantly_below_the_best_does_not_qualify():
    best, worse = candidate("best", 36, 90), candidate("worse", 22, 30)

    choice = winner_choice(search_state(best, worse), confidence=0.95, seed=0)

    assert choice.cheapest is None
    assert choice.winner("shorter").key == best.key


def test_a_shorter_prompt_that_did_not_beat_the_baseline_beyond_noise_does_not_qualify():
    # Within noise of a best that beat the baseline by 6 rows, but only 3 rows ahead of the baseline itself.
    best, shorter = candidate("best", 16, 90), candidate("shorter", 13, 30)

    choice = winner_choice(search_state(best, shorter, baseline_correct=10), confidence=0.95, seed=0)

    assert choice.cheapest is None


def test_a_longer_prompt_or_one_without_token_counts_does_not_qualify():
    best = candidate("best", 36, 50)
    longer, uncounted = candidate("longer", 36, 70), candidate("uncounted", 36, None)

    choice = winner_choice(search_state(best, longer, uncounted), confidence=0.95, seed=0)

    assert choice.cheapest is None
    assert choice.best_tokens == 50.0


def test_prompts_are_ranked_by_what_they_save_against_the_best_on_the_rows_they_share():
    # The best's last 20 rows have long inputs. One prompt saves 5 tokens on every row; another saves 1 but was
    # validated only on the first 20 (short) rows, so its own mean looks lower: it must not win for that.
    best = candidate("best", 36, 40)
    best.validation_tokens |= {row: 400 for row in range(20, ROWS)}
    everywhere = candidate("everywhere", 36, 35)
    everywhere.validation_tokens |= {row: 395 for row in range(20, ROWS)}
    short_rows_only = candidate("short-rows-only", 20, 39, rows=20)

    choice = winner_choice(search_state(best, everywhere, short_rows_only, baseline_correct=0), confidence=0.95, seed=0)

    assert choice.cheapest is not None and choice.cheapest.key == everywhere.key
    assert (choice.best_tokens, choice.cheapest_tokens) == (220.0, 215.0)  # on the best's rows: 5 saved per call


def test_a_prompt_sharing_too_few_rows_with_the_best_does_not_qualify():
    best = candidate("best", 36, 90)
    glimpsed = candidate("glimpsed", 8, 30, rows=8)

    choice = winner_choice(search_state(best, glimpsed, baseline_correct=0), confidence=0.95, seed=0)

    assert choice.cheapest is None


def test_when_the_baseline_is_still_the_incumbent_nothing_else_qualifies():
    baseline = candidate("baseline", 10, 90)
    shorter = candidate("shorter", 36, 30)  # would qualify against any other incumbent
    state = EngineState(baseline=baseline, incumbent=baseline.model_copy(deep=True), history=[shorter])

    choice = winner_choice(state, confidence=0.95, seed=0)

    assert choice.cheapest is None and choice.best.key == baseline.key
