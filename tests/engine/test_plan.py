"""The search plan: a budget buys iterations by shrinking the search's shape, a budget too small for one
iteration is refused with the budget it needs, validation decisions use the plan's samples, and outputs are
bounded by what the train targets need."""

from __future__ import annotations

import re

import pytest

from promptopt.errors import InvalidInputError
from prompts.content import PromptContent
from tests.engine.engine_support import BASELINE, MemoryRecorder, SentimentProvider, build_engine, search_data
from workflows.engine.answer_names import NAMING_SAMPLES
from workflows.engine.config import DEFAULT_ITERATIONS, RunConfig
from workflows.engine.data import EngineExample
from workflows.engine.estimate import run_estimate
from workflows.engine.loop import Engine, look_confidence
from workflows.engine.output_bound import OutputBound, one_line_answers, output_token_bound, within_bound
from workflows.engine.plan import MIN_VALIDATION_ROWS, search_plan

WHOLE_TASK = {"train_size": 1454, "validation_size": 1138, "test_size": 100}  # ape__antonyms imported whole


def _config(max_calls: int | None = None, **fields) -> RunConfig:
    return RunConfig(budget={"max_calls": max_calls}, **fields)


def test_without_a_call_budget_the_configured_shape_runs_on_a_validation_sample():
    plan = search_plan(_config(), **WHOLE_TASK)
    config = _config()
    assert (plan.minibatch_size, plan.candidates_per_iteration, plan.survivors) == (
        config.minibatch_size,
        config.candidates_per_iteration,
        config.survivors,
    )
    assert plan.iterations == config.iteration_limit == DEFAULT_ITERATIONS
    # Not the whole validation split on every decision: a sample, doubled only for close decisions.
    assert plan.look_sizes() == [60, 120, 240]


def test_a_modest_budget_buys_iterations_by_searching_leaner_and_the_plan_fits_the_budget():
    plan = search_plan(_config(400), **WHOLE_TASK)
    assert plan.test_reserve_calls == 200
    assert plan.iterations >= 2
    assert plan.validation_rows >= MIN_VALIDATION_ROWS
    assert plan.test_reserve_calls + plan.search_calls <= 400
    generous = search_plan(_config(5000), **WHOLE_TASK)
    assert generous.candidates_per_iteration > plan.candidates_per_iteration
    # With no iteration count configured, the budget decides how many iterations there are; a count caps them.
    assert generous.iterations > DEFAULT_ITERATIONS
    assert search_plan(_config(5000, iterations=2), **WHOLE_TASK).iterations == 2


def test_a_budget_too_small_for_one_iteration_is_refused_with_the_budget_it_needs():
    with pytest.raises(InvalidInputError) as refused:
        search_plan(_config(250), **WHOLE_TASK)
    message = str(refused.value)
    assert message.startswith("budget.max_calls: 250 calls cannot pay for one iteration")
    needed = int(re.search(r"give at least (\d+) calls", message).group(1))
    assert search_plan(_config(needed), **WHOLE_TASK).iterations == 1
    with pytest.raises(InvalidInputError):
        search_plan(_config(needed - 1), **WHOLE_TASK)


def test_a_budget_that_only_covers_the_final_test_is_refused():
    with pytest.raises(InvalidInputError, match=r"budget\.max_calls: 200 leaves nothing for the search"):
        search_plan(_config(200), **WHOLE_TASK)


def test_the_estimate_shows_the_plan_and_never_exceeds_the_budget():
    estimate = run_estimate(_config(400), **WHOLE_TASK, prompt_tokens=10, price=None)
    assert estimate.plan["iterations"] >= 2 and estimate.plan["test_reserve_calls"] == 200
    assert estimate.planned_task_calls <= estimate.calls <= 400


def test_validation_decisions_use_the_plans_sample_not_the_whole_split():
    config = RunConfig(seed=1, iterations=1, patience=5, validation_limit=None)
    data = search_data(train=30, validation=90)
    recorder = MemoryRecorder()
    engine, _gateway = build_engine(provider=SentimentProvider(), recorder=recorder, config=config, data=data)
    engine.search(Engine.initial_state(BASELINE))

    plan = search_plan(config, train_size=30, validation_size=90, test_size=0)
    assert plan.validation_rows == 60 < 90
    second = next(record for record in recorder.records if record.step == "second_evaluation")
    verdicts = second.summary["candidates"]
    assert verdicts, "a survivor reached validation"
    for verdict in verdicts:
        assert verdict["rows"] in plan.look_sizes()
        if verdict["accepted"] or verdict.get("reason") != "gain within noise":
            assert verdict["looks"] == 1 and verdict["rows"] == plan.validation_rows
    incumbent_rows = [scored for key, scored in second.predictions if key == BASELINE.key]
    assert len(incumbent_rows) <= plan.validation_max_rows and len(incumbent_rows) >= plan.validation_rows


class LengthRecordingProvider(SentimentProvider):
    def __init__(self) -> None:
        super().__init__()
        self.max_tokens: set[int] = set()
        self.stops: set[tuple[str, ...]] = set()

    def generate(self, requests):
        self.max_tokens.update(request.max_tokens for request in requests)
        self.stops.update(request.stop for request in requests if request.max_tokens == 18)
        return super().generate(requests)


def test_the_search_bounds_outputs_by_what_the_train_targets_need():
    provider = LengthRecordingProvider()
    engine, _gateway = build_engine(provider=provider, recorder=MemoryRecorder(), config=RunConfig(seed=1))
    engine.search(Engine.initial_state(BASELINE.edit(max_tokens=256, stop=())))  # the default max_tokens

    bound = output_token_bound(search_data().train, metric_name="normalized_match")
    assert bound == 18  # "positive"/"negative": 8 bytes, a quarter more (10), and 8 tokens of margin
    # On train the baseline runs at the bound, on validation as written (the bar a change must beat); every
    # other candidate runs at the bound or below it (a label set needs only a few tokens).
    assert bound in provider.max_tokens and 256 in provider.max_tokens and max(provider.max_tokens - {256}) == bound
    # One-word targets: the calls at the bound (the baseline's) end the answer at its first line break.
    assert provider.stops == {("\n",)}


def test_no_bound_where_a_longer_answer_may_score_better_or_targets_are_empty():
    train = search_data().train
    assert output_token_bound(train, metric_name="contains") is None
    assert output_token_bound(train, metric_name="llm_judge") is None
    empty = (*train, EngineExample(id=99, inputs={"text": "x"}, expected=""))
    assert output_token_bound(empty, metric_name="exact_match") is None
    multilingual = (EngineExample(id=1, inputs={"text": "x"}, expected="é", accepted_answers=("ééé",)),)
    assert output_token_bound(multilingual, metric_name="any_answer") == 16  # 6 bytes → 8, plus 8


def test_answers_end_at_a_line_break_only_when_every_train_answer_is_one_line():
    train = search_data().train
    assert one_line_answers(train, metric_name="normalized_match")
    assert not one_line_answers(train, metric_name="contains")  # a longer answer may be the right one
    two_lines = (*train, EngineExample(id=99, inputs={"text": "x"}, expected="a\nb"))
    assert not one_line_answers(two_lines, metric_name="exact_match")
    accepted = (EngineExample(id=1, inputs={"text": "x"}, expected="a", accepted_answers=("b\nc",)),)
    assert not one_line_answers(accepted, metric_name="any_answer")
    assert not one_line_answers((), metric_name="exact_match")


def test_the_bound_adds_a_line_stop_once_and_keeps_the_prompts_own_stops():
    content = PromptContent(template="{{text}}", max_tokens=100, stop=("###",))
    bounded = within_bound(content, OutputBound(max_tokens=20, one_line=True))
    assert (bounded.max_tokens, bounded.stop) == (20, ("###", "\n"))
    assert within_bound(bounded, OutputBound(max_tokens=20, one_line=True)) == bounded
    assert within_bound(content, OutputBound()) is content
    full = content.edit(stop=("a", "b", "c", "d"))  # providers take four: the prompt's own are kept
    assert within_bound(full, OutputBound(one_line=True)).stop == ("a", "b", "c", "d")


class SlightlyBetterProvider(SentimentProvider):
    """When the template says "carefully", also right on the bad reviews whose number is 1 more than a
    multiple of 13: a small real gain, too small to settle on the first validation look."""

    def generate(self, requests):
        generations = super().generate(requests)
        for index, request in enumerate(requests):
            text = request.prompt.completion_text
            number = re.search(r"review (\d+): a bad film", text)
            if "carefully" in text and number and int(number.group(1)) % 13 == 1:
                generations[index] = type(generations[index])(text="negative", input_tokens=20, output_tokens=1)
        return generations


def test_a_close_decision_looks_again_on_more_rows_before_it_is_decided():
    from tests.engine.test_loop import FixedProposals

    config = RunConfig(seed=1, iterations=1, patience=5)
    data = search_data(train=30, validation=90)
    careful = BASELINE.edit(template="Classify carefully the sentiment of this review: {{text}}")
    recorder = MemoryRecorder()
    engine, _gateway = build_engine(
        provider=SlightlyBetterProvider(),
        recorder=recorder,
        config=config,
        data=data,
        strategies=[FixedProposals([careful])],
    )
    engine.search(Engine.initial_state(BASELINE))

    plan = search_plan(config, train_size=30, validation_size=90, test_size=0)
    assert plan.look_sizes() == [60, 90]
    second = next(record for record in recorder.records if record.step == "second_evaluation")
    (verdict,) = second.summary["candidates"]
    # Three wins and no loss on the first 60 rows is within noise at the split level; four of 90 is not.
    assert verdict["accepted"] and (verdict["looks"], verdict["rows"]) == (2, 90)
    candidate_rows = [scored for key, scored in second.predictions if key == careful.key]
    assert len(candidate_rows) == 90  # each row scored once, the first 60 kept from the first look


def test_the_error_rate_is_split_across_looks_by_their_rows_and_adds_up_to_the_configured_one():
    looks = [20, 40, 80]
    levels = [look_confidence(0.95, looks, index) for index in range(len(looks))]
    assert sum(1 - level for level in levels) == pytest.approx(0.05)
    assert levels[0] > levels[1] > levels[2]  # the largest sample, where small gains show, gets the most
    assert look_confidence(0.95, [60], 0) == pytest.approx(0.95)


def test_the_question_to_the_task_model_about_the_answer_is_planned_once_and_only_for_the_mutations():
    with_mutations = search_plan(_config(400), **WHOLE_TASK)
    without = search_plan(_config(400, strategies=["demos"]), **WHOLE_TASK)

    assert with_mutations.answer_naming_calls == NAMING_SAMPLES
    assert without.answer_naming_calls == 0
    assert with_mutations.as_dict()["answer_naming_calls"] == NAMING_SAMPLES
    # The refusal counts the question: the budget a demos-only run needs is too little with the mutations.
    with pytest.raises(InvalidInputError) as refused:
        search_plan(_config(250, strategies=["demos"]), **WHOLE_TASK)
    needed = int(re.search(r"give at least (\d+) calls", str(refused.value)).group(1))
    assert search_plan(_config(needed, strategies=["demos"]), **WHOLE_TASK).iterations == 1
    with pytest.raises(InvalidInputError):
        search_plan(_config(needed + NAMING_SAMPLES - 1), **WHOLE_TASK)
    assert search_plan(_config(needed + NAMING_SAMPLES), **WHOLE_TASK).iterations == 1
