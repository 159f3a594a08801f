"""The five-step loop: steps in order, significance-gated acceptance, stopping rules, budgets, resumes."""

from __future__ import annotations

import re

import pytest

from prompts.content import PromptContent
from tests.engine.engine_support import (
    BASELINE,
    MemoryRecorder,
    SentimentProvider,
    WorkerKilled,
    build_engine,
    search_data,
)
from workflows.engine.answer_names import NAMING_CUE, NAMING_SAMPLES
from workflows.engine.config import RunConfig
from workflows.engine.loop import BOUND_STRATEGY, Engine
from workflows.engine.scoring import Scorer, SearchCancelled
from workflows.engine.state import STEP_ORDER, CandidateState, EngineState
from workflows.engine.strategies.base import Proposal, ProposalContext
from workflows.gateway.budget import Budget
from workflows.gateway.cache import InMemoryResponseCache
from workflows.gateway.types import Generation


def _search(config: RunConfig | None = None, **kwargs):
    provider = kwargs.pop("provider", SentimentProvider())
    recorder = kwargs.pop("recorder", MemoryRecorder())
    engine, gateway = build_engine(provider=provider, recorder=recorder, config=config, **kwargs)
    state = engine.search(Engine.initial_state(BASELINE))
    return state, recorder, provider, gateway


def test_it_runs_the_five_steps_in_order_every_iteration():
    state, recorder, _provider, _gateway = _search(RunConfig(seed=1, iterations=2, patience=5))
    assert [step for _iteration, step in recorder.started] == list(STEP_ORDER) * 2
    assert [record.iteration for record in recorder.records] == [1] * 5 + [2] * 5
    assert state.stop_reason == "completed 2 iterations"


def test_it_replaces_the_baseline_only_with_a_candidate_that_wins_beyond_noise():
    state, recorder, _provider, _gateway = _search(RunConfig(seed=1, iterations=2, patience=5))
    # The scripted model is right only when its answer is constrained to the labels.
    assert state.baseline.validation_score == pytest.approx(0.5)
    assert state.incumbent.validation_score == pytest.approx(1.0)
    assert state.incumbent.prompt().output_type == "choice"
    assert set(state.incumbent.prompt().output_choices) == {"positive", "negative"}
    acceptance = state.acceptances[0]
    assert acceptance.gain == pytest.approx(0.5)
    assert acceptance.gain_low > 0
    accepted = [record for record in recorder.records if record.accepted_key]
    assert accepted[0].step == "second_evaluation"
    assert accepted[0].accepted_key == state.incumbent.key


class FixedProposals:
    """A strategy proposing prepared contents, for tests of the acceptance rule."""

    name = "fixed"
    needs_optimizer = False

    def __init__(self, contents: list[PromptContent]) -> None:
        self.contents = contents
        self.contexts: list[ProposalContext] = []

    def propose(self, context: ProposalContext, count: int) -> list[Proposal]:
        self.contexts.append(context)
        return [Proposal(content=content, strategy=self.name, rationale="prepared") for content in self.contents]


class NoisyProvider(SentimentProvider):
    """Right on exactly one extra validation row when the template says "carefully": a gain within noise."""

    def generate(self, requests):
        generations = super().generate(requests)
        for index, request in enumerate(requests):
            text = request.prompt.completion_text
            if "carefully" in text and "validation review 1:" in text:
                generations[index] = type(generations[index])(text="negative", input_tokens=20, output_tokens=1)
        return generations


def test_it_keeps_the_incumbent_when_the_gain_is_within_noise_unless_a_minimum_gain_allows_it():
    careful = BASELINE.edit(template="Read carefully. Classify the sentiment of this review: {{text}}")
    strict = RunConfig(seed=1, iterations=1, candidates_per_iteration=1, survivors=1)
    state, recorder, _provider, _gateway = _search(
        strict, provider=NoisyProvider(), strategies=[FixedProposals([careful])]
    )
    verdict = recorder.records[-1].summary["candidates"][0]
    assert verdict["gain"] == pytest.approx(1 / 24)
    assert verdict["accepted"] is False and verdict["reason"] == "gain within noise"
    assert state.incumbent.key == BASELINE.key

    lenient = strict.model_copy(update={"min_gain": 0.04})
    state, _recorder, _provider, _gateway = _search(
        lenient, provider=NoisyProvider(), strategies=[FixedProposals([careful])]
    )
    assert state.incumbent.key == careful.key


class WrongProvider(SentimentProvider):
    """Wrong on every row, whatever the prompt: nothing any candidate does shows on the minibatch."""

    def generate(self, requests):
        return [type(g)(text="neutral", input_tokens=20, output_tokens=1) for g in super().generate(requests)]


def test_a_candidate_tied_with_the_incumbent_at_zero_on_train_is_not_validated():
    other = BASELINE.edit(template="Review: {{text}}\nSentiment:", layout="completion")
    config = RunConfig(seed=1, iterations=1, candidates_per_iteration=1, survivors=1)
    proposals = FixedProposals([other])
    state, recorder, _provider, _gateway = _search(config, provider=WrongProvider(), strategies=[proposals])
    refined, validation = recorder.records[-2], recorder.records[-1]
    assert refined.summary["scores"] == {other.key[:8]: 0.0} and refined.summary["survivors"] == []
    assert validation.summary["candidates"] == []
    assert {key for key, _scored in validation.predictions} == {BASELINE.key}  # only the incumbent's sample
    assert "a tie at zero does not count" in validation.summary["note"]
    assert state.incumbent.key == BASELINE.key


def test_it_stops_after_patience_iterations_without_improvement():
    same = [BASELINE.edit(template="Sentiment of: {{text}}")]
    state, recorder, _provider, _gateway = _search(
        RunConfig(seed=1, iterations=10, patience=2, candidates_per_iteration=1, survivors=1),
        strategies=[FixedProposals(same)],
    )
    assert state.stop_reason == "no improvement in 2 iterations (patience)"
    assert max(record.iteration for record in recorder.records) == 2


def test_it_stops_once_the_target_score_is_reached():
    state, recorder, _provider, _gateway = _search(RunConfig(seed=1, iterations=10, target_score=0.9))
    assert state.stop_reason.startswith("reached the target score 0.9")
    assert max(record.iteration for record in recorder.records) == 1


def test_it_stops_when_the_budget_is_exhausted_and_says_so():
    state, recorder, _provider, gateway = _search(RunConfig(seed=1, iterations=5), budget=Budget(max_calls=30))
    assert state.budget_exhausted
    assert "max_calls 30" in state.stop_reason
    assert gateway.usage.calls == 30
    assert recorder.records[-1].summary["stopped"] == state.stop_reason


def test_a_cancel_stops_the_search_within_a_step():
    provider = SentimentProvider()
    with pytest.raises(SearchCancelled):
        _search(RunConfig(seed=1), provider=provider, should_stop=lambda: provider.calls >= 5)
    assert provider.calls <= 5 + 16  # at most one more chunk after the request


def test_the_same_seed_gives_the_same_search_and_another_seed_another_minibatch():
    first, _recorder, _p, _g = _search(RunConfig(seed=3, iterations=2, patience=5))
    second, _recorder, _p, _g = _search(RunConfig(seed=3, iterations=2, patience=5))
    assert first.model_dump() == second.model_dump()
    other, _recorder, _p, _g = _search(RunConfig(seed=4, iterations=2, patience=5))
    assert other.minibatch_ids != first.minibatch_ids


@pytest.mark.parametrize("crash_after", [1, 3, 4, 5, 7])
def test_a_search_resumed_from_its_last_checkpoint_ends_exactly_like_an_uninterrupted_one(crash_after):
    config = RunConfig(seed=2, iterations=2, patience=5)
    uninterrupted, full_recorder, full_provider, _g = _search(config)

    cache = InMemoryResponseCache()  # the team's call cache survives a worker's death (it is in the database)
    provider = SentimentProvider()
    crashing = MemoryRecorder(crash_after=crash_after)
    engine, _gateway = build_engine(provider=provider, recorder=crashing, config=config, cache=cache)
    with pytest.raises(WorkerKilled):
        engine.search(Engine.initial_state(BASELINE))
    checkpoint = EngineState.model_validate(crashing.checkpoints[-1])

    resumed_recorder = MemoryRecorder()
    engine, _gateway = build_engine(provider=provider, recorder=resumed_recorder, config=config, cache=cache)
    resumed = engine.search(checkpoint)

    assert resumed.model_dump(exclude={"usage"}) == uninterrupted.model_dump(exclude={"usage"})
    steps = [(record.iteration, record.step) for record in (*crashing.records, *resumed_recorder.records)]
    assert steps == [(record.iteration, record.step) for record in full_recorder.records]  # none repeated
    assert provider.calls == full_provider.calls  # the crash cost no extra model calls


def test_the_estimate_bounds_the_calls_a_run_makes():
    from workflows.engine.estimate import run_estimate

    config = RunConfig(seed=1, iterations=3, patience=5)
    _state, _recorder, provider, _gateway = _search(config)
    data = search_data()
    estimate = run_estimate(
        config,
        train_size=len(data.train),
        validation_size=len(data.validation),
        test_size=0,
        prompt_tokens=20,
        price=None,
    )
    assert provider.calls <= estimate.task_calls


def test_the_ucb_bandit_also_finds_the_better_candidate_and_keeps_comparisons_paired():
    state, recorder, _provider, _gateway = _search(RunConfig(seed=1, iterations=1, selection="ucb"))
    refined = next(record for record in recorder.records if record.step == "refined_inference")
    assert refined.summary["selection"] == "ucb"
    incumbent_rows = {scored.example_id for key, scored in refined.predictions if key == state.baseline.key}
    candidate_rows = {scored.example_id for key, scored in refined.predictions if key != state.baseline.key}
    # Rows a candidate got beyond the minibatch were also given to the incumbent.
    assert candidate_rows - set(state.minibatch_ids) <= incumbent_rows
    assert candidate_rows - set(state.minibatch_ids), "the bandit spent extra rows"
    assert state.incumbent.prompt().output_type == "choice"


class NamingProvider(SentimentProvider):
    """Also answers the engine's question about what the answer is, as the embedded model does on antonyms."""

    def generate(self, requests):
        generations = super().generate(requests)
        return [
            type(generation)(text=" opposite of the input.", input_tokens=60, output_tokens=5)
            if NAMING_CUE in request.prompt.completion_text
            else generation
            for request, generation in zip(requests, generations, strict=True)
        ]


def test_the_task_model_is_asked_once_what_the_answer_is_and_the_mutations_may_name_the_field_after_it(monkeypatch):
    questions = []
    ask = Scorer.complete

    def counting_complete(self, texts, **kwargs):
        questions.append(list(texts))
        return ask(self, texts, **kwargs)

    monkeypatch.setattr(Scorer, "complete", counting_complete)
    provider = NamingProvider()
    state, recorder, _provider, _gateway = _search(RunConfig(seed=1, iterations=2, patience=5), provider=provider)

    assert len(questions) == 1 and len(questions[0]) == NAMING_SAMPLES  # once for the run, not per iteration
    for text in questions[0]:
        assert "train review" in text and "validation review" not in text  # train pairs only
    proposals = [record for record in recorder.records if record.step == "proposal"]
    assert [record.summary["answer_names"] for record in proposals] == [["Opposite"], ["Opposite"]]
    assert state.answer_names == ["Opposite"]  # in the checkpoint: a resumed run does not ask again

    silent = NamingProvider()
    fixed = FixedProposals([BASELINE.edit(max_tokens=9)])
    _search(RunConfig(seed=1, iterations=1), provider=silent, strategies=[fixed])
    assert not any(NAMING_CUE in text for text in silent.seen)  # no strategy of this mix uses the names


OTHER = BASELINE.edit(template="Judge the review: {{text}}")


def _start_with_a_beam() -> EngineState:
    """The incumbent got no validation row right (as scored here); a beam prompt got a third of them."""
    start = Engine.initial_state(BASELINE)
    validation_ids = [example.id for example in search_data().validation]
    start.incumbent.validation = dict.fromkeys(validation_ids, 0.0)
    start.incumbent.validation_score = 0.0
    beam_entry = CandidateState.of(OTHER, strategy="fixed")
    beam_entry.validation = {example_id: float(example_id % 3 == 0) for example_id in validation_ids}
    beam_entry.validation_score = sum(beam_entry.validation.values()) / len(validation_ids)
    start.beam = [start.incumbent.model_copy(deep=True), beam_entry]
    return start


def test_an_iteration_proposes_from_a_beam_prompt_on_the_pareto_front_and_acceptance_still_judges_the_incumbent():
    for parents, expected_parent in (("pareto", OTHER), ("incumbent", BASELINE)):
        config = RunConfig(seed=1, iterations=1, candidates_per_iteration=1, survivors=1, parents=parents)
        # Right on every row the scripted model gets (a constrained answer): it survives whichever the parent.
        proposals = FixedProposals([BASELINE.edit(output_type="choice", output_choices=["positive", "negative"])])
        recorder = MemoryRecorder()
        engine, _gateway = build_engine(
            provider=SentimentProvider(), recorder=recorder, config=config, strategies=[proposals]
        )
        state = engine.search(_start_with_a_beam())
        primary, evaluation = recorder.records[0], recorder.records[1]
        assert proposals.contexts[0].incumbent == expected_parent
        assert {key for key, _scored in evaluation.predictions} == {expected_parent.key}
        assert primary.summary.get("parent") == (OTHER.key[:8] if parents == "pareto" else None)
        assert state.parent_key == expected_parent.key
        # Whatever the parent, the survivor is compared with the incumbent (0 on every row here), not the parent.
        [verdict] = recorder.records[-1].summary["candidates"]
        assert verdict["gain"] == pytest.approx(1.0) and verdict["accepted"] is True


@pytest.mark.parametrize("crash_after", [1, 2, 3, 4])
def test_a_search_resumed_inside_an_iteration_with_a_beam_parent_ends_like_an_uninterrupted_one(crash_after):
    config = RunConfig(seed=1, iterations=2, candidates_per_iteration=2, survivors=1, patience=5)
    uninterrupted = build_engine(provider=SentimentProvider(), recorder=MemoryRecorder(), config=config)[0].search(
        _start_with_a_beam()
    )
    cache = InMemoryResponseCache()
    crashing = MemoryRecorder(crash_after=crash_after)
    engine, _gateway = build_engine(provider=SentimentProvider(), recorder=crashing, config=config, cache=cache)
    with pytest.raises(WorkerKilled):
        engine.search(_start_with_a_beam())
    assert crashing.checkpoints[0]["parent_key"] == OTHER.key
    checkpoint = EngineState.model_validate(crashing.checkpoints[-1])
    engine, _gateway = build_engine(provider=SentimentProvider(), recorder=MemoryRecorder(), config=config, cache=cache)
    assert engine.search(checkpoint).model_dump(exclude={"usage"}) == uninterrupted.model_dump(exclude={"usage"})


LEAN_MAX_CALLS = 420  # the scripted search's plan pays for four iterations, and what is left for a leaner fifth


def _budgeted_engine(provider: SentimentProvider, recorder: MemoryRecorder, cache: InMemoryResponseCache | None = None):
    """A search under a call budget; the provider counts every call that reached it, across attempts."""
    config = RunConfig(seed=1, patience=5, budget={"max_calls": LEAN_MAX_CALLS})
    return build_engine(
        provider=provider,
        recorder=recorder,
        config=config,
        cache=cache,
        budget=Budget(max_calls=LEAN_MAX_CALLS - provider.calls),
        remaining_calls=lambda: LEAN_MAX_CALLS - provider.calls,
    )


def test_calls_left_that_cannot_pay_for_a_planned_iteration_buy_a_leaner_one_then_the_search_stops_cleanly():
    max_calls = LEAN_MAX_CALLS
    recorder = MemoryRecorder()
    engine, gateway = _budgeted_engine(SentimentProvider(), recorder)
    state = engine.search(Engine.initial_state(BASELINE))
    plan = engine._plan
    lean = [record for record in recorder.records if "lean_shape" in record.summary]
    assert lean, "no leaner iteration ran"
    shape = lean[0].summary["lean_shape"]
    assert shape["validation_rows"] == plan.validation_rows  # decisions as sure as planned ones
    assert shape["candidates_per_iteration"] <= plan.candidates_per_iteration
    assert (shape["candidates_per_iteration"], shape["minibatch_size"], shape["survivors"]) != (
        plan.candidates_per_iteration,
        plan.minibatch_size,
        plan.survivors,
    )
    proposal = next(r for r in recorder.records if r.iteration == lean[0].iteration and r.step == "proposal")
    assert proposal.summary["proposed"] <= shape["candidates_per_iteration"]
    assert gateway.usage.calls <= max_calls
    stopped = re.fullmatch(
        r"the (\d+) calls left cannot pay for another iteration \((\d+) planned per iteration, (\d+) for the leanest\)",
        state.stop_reason,
    )
    left, planned, leanest = (int(number) for number in stopped.groups())
    assert left == max_calls - gateway.usage.calls
    assert left < leanest < planned == plan.calls_per_iteration
    primary = next(r for r in recorder.records if r.iteration == lean[0].iteration and r.step == "primary_inference")
    assert primary.summary["examples"] == shape["minibatch_size"]


@pytest.mark.parametrize("crash_after", [20, 21, 23])
def test_a_search_resumed_around_a_leaner_iteration_ends_like_an_uninterrupted_one(crash_after):
    uninterrupted = _budgeted_engine(SentimentProvider(), MemoryRecorder())[0].search(Engine.initial_state(BASELINE))
    provider, cache = SentimentProvider(), InMemoryResponseCache()
    crashing = MemoryRecorder(crash_after=crash_after)
    with pytest.raises(WorkerKilled):
        _budgeted_engine(provider, crashing, cache)[0].search(Engine.initial_state(BASELINE))
    checkpoint = EngineState.model_validate(crashing.checkpoints[-1])
    resumed = _budgeted_engine(provider, MemoryRecorder(), cache)[0].search(checkpoint)
    assert resumed.model_dump(exclude={"usage"}) == uninterrupted.model_dump(exclude={"usage"})
    assert any(checkpoint.get("shape") for checkpoint in crashing.checkpoints) == (crash_after >= 21)


class ChattyProvider(SentimentProvider):
    """Right on every row, then an explanation on the next line: the whole output matches only when the prompt
    ends its answer at a line break."""

    def generate(self, requests):
        generations = []
        for request in requests:
            self.calls += 1
            text = request.prompt.completion_text
            self.seen.append(text)
            answer = "positive" if "good" in text.split("\n\n")[-1] else "negative"
            output = f"{answer}\nBecause the review says so."
            for stop in request.stop:
                output = output.split(stop)[0]
            generations.append(Generation(text=output, input_tokens=20, output_tokens=len(output.split())))
        return generations


def test_the_baseline_is_validated_as_written_and_its_trimmed_copy_is_kept_only_by_beating_it():
    chatty = BASELINE.edit(max_tokens=256, stop=())
    config = RunConfig(seed=1, iterations=1)
    engine, _gateway = build_engine(provider=ChattyProvider(), recorder=MemoryRecorder(), config=config, strategies=[])
    state = engine.search(Engine.initial_state(chatty))
    # As written, every answer carries its explanation and scores 0; within the train targets' bound, 1.
    assert state.baseline.key == chatty.key and state.baseline.validation_score == 0.0
    assert state.incumbent.strategy == BOUND_STRATEGY and state.incumbent.validation_score == 1.0
    trimmed = state.incumbent.prompt()
    assert trimmed.stop == ("\n",) and trimmed.max_tokens < chatty.max_tokens
    assert trimmed.template == chatty.template
    assert state.acceptances[0].gain == pytest.approx(1.0) and state.acceptances[0].gain_low > 0


def test_a_trimmed_baseline_that_answers_as_the_baseline_did_is_not_kept():
    one_line = BASELINE.edit(max_tokens=256, stop=())
    config = RunConfig(seed=1, iterations=1)
    recorder = MemoryRecorder()
    engine, _gateway = build_engine(provider=SentimentProvider(), recorder=recorder, config=config, strategies=[])
    state = engine.search(Engine.initial_state(one_line))
    [proposed] = state.history
    assert proposed.strategy == BOUND_STRATEGY and "first line break" in proposed.rationale
    assert proposed.validation_score == state.baseline.validation_score == pytest.approx(0.5)
    assert state.acceptances == [] and state.incumbent.key == one_line.key
    assert recorder.records[-1].summary["candidates"][0]["reason"] == "gain within noise"


@pytest.mark.parametrize("crash_after", [3, 4, 5, 6])
def test_a_search_resumed_around_the_trimmed_baseline_ends_like_an_uninterrupted_one(crash_after):
    chatty = BASELINE.edit(max_tokens=256, stop=())
    config = RunConfig(seed=2, iterations=2, patience=5)
    full_provider, full_recorder = ChattyProvider(), MemoryRecorder()
    engine, _gateway = build_engine(provider=full_provider, recorder=full_recorder, config=config)
    uninterrupted = engine.search(Engine.initial_state(chatty))
    assert BOUND_STRATEGY in {candidate.strategy for candidate in uninterrupted.history}
    assert uninterrupted.acceptances  # the trimmed copy, or a candidate within the bound, beat the baseline

    cache, provider, crashing = InMemoryResponseCache(), ChattyProvider(), MemoryRecorder(crash_after=crash_after)
    engine, _gateway = build_engine(provider=provider, recorder=crashing, config=config, cache=cache)
    with pytest.raises(WorkerKilled):
        engine.search(Engine.initial_state(chatty))
    checkpoint = EngineState.model_validate(crashing.checkpoints[-1])
    engine, _gateway = build_engine(provider=provider, recorder=MemoryRecorder(), config=config, cache=cache)
    resumed = engine.search(checkpoint)

    assert resumed.model_dump(exclude={"usage"}) == uninterrupted.model_dump(exclude={"usage"})
    assert provider.calls == full_provider.calls


def test_a_checkpoint_from_before_the_baseline_was_validated_as_written_finishes_under_its_old_rule():
    chatty = BASELINE.edit(max_tokens=256, stop=())
    old = Engine.initial_state(chatty).model_dump(mode="json")
    del old["baseline_as_written"]  # what a checkpoint written before the field looks like
    engine, _gateway = build_engine(
        provider=ChattyProvider(), recorder=MemoryRecorder(), config=RunConfig(seed=1, iterations=1), strategies=[]
    )
    state = engine.search(EngineState.model_validate(old))
    # Every prompt within the bound, the baseline too (its answers end at the line break and score 1), and no
    # trimmed copy proposed.
    assert state.baseline.validation_score == 1.0 and state.history == []
