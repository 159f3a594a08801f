"""What a finished run saves: every accepted incumbent as a version chained from the baseline, and with
`prefer: shorter` the cheapest prompt within noise of the best as the winner (workflows/run_lineage.py,
workflows/engine/shorter.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import transaction

from prompts.content import PromptContent
from prompts.models import VersionSource
from tests.engine.engine_support import SentimentProvider

# The fixtures and helpers of the end-to-end optimization tests: a sentiment prompt and dataset.
from tests.workflows.test_optimization import _create, _optimize_command, setup  # noqa: F401 - `setup` is a fixture
from workflows.engine.shorter import winner_choice
from workflows.engine.state import Acceptance, CandidateState, EngineState
from workflows.models import Candidate
from workflows.run_lineage import lineage_save
from workflows.run_runner import run_execute


class WordCountingProvider(SentimentProvider):
    """The scripted sentiment model, counting a prompt's tokens as its words: longer prompts cost more."""

    def generate(self, requests):
        answers = super().generate(requests)
        return [
            replace(answer, input_tokens=len(request.prompt.completion_text.split()))
            for answer, request in zip(answers, requests, strict=True)
        ]


@pytest.fixture
def provider(monkeypatch):
    scripted = WordCountingProvider()
    monkeypatch.setattr("workflows.run_runner.provider_build", lambda **kwargs: scripted)
    monkeypatch.setattr("workflows.services.provider_build", lambda **kwargs: scripted)
    return scripted


def _accepted(iteration: int, candidate: CandidateState, gain: float) -> Acceptance:
    return Acceptance(
        iteration=iteration,
        key=candidate.key,
        strategy=candidate.strategy,
        rationale=candidate.rationale,
        validation_score=candidate.validation_score or 0.0,
        gain=gain,
        gain_low=gain / 2,
        gain_high=gain * 1.5,
    )


def test_every_accepted_incumbent_becomes_a_version_each_the_parent_of_the_next(setup, provider):  # noqa: F811
    run = _create(setup)
    baseline = PromptContent.from_dict(setup["version"].content())
    first = CandidateState.of(
        baseline.edit(system_instruction="Classify the review."), strategy="mutations", rationale="State the task."
    )
    first.validation_score = 0.7
    second = CandidateState.of(
        baseline.edit(system_instruction="Classify the review as positive or negative."),
        strategy="demos",
        rationale="Name the labels.",
    )
    second.validation_score = 0.9
    state = EngineState(
        baseline=CandidateState.of(baseline),
        incumbent=second,
        history=[first, second],
        acceptances=[_accepted(1, first, 0.2), _accepted(3, second, 0.2)],
    )
    choice = winner_choice(state, confidence=0.95, seed=0)

    with transaction.atomic():
        winner = lineage_save(
            run,
            state,
            choice,
            second,
            second.prompt(),
            as_searched=lambda content: content,
            provider_name="local",
            model_name="",
        )

    step = winner.parent
    assert step.parent == setup["version"]
    assert (step.number, winner.number) == (2, 3)
    assert step.source == winner.source == VersionSource.OPTIMIZER
    assert step.system_instruction == "Classify the review."
    assert step.commit_message == (
        f"Optimization run {run.pk}, iteration 1 (mutations): State the task. "
        "Validation 0.700, gain +0.200 (CI +0.100 to +0.300)."
    )
    assert winner.commit_message.startswith(f"Optimization run {run.pk}, iteration 3 (demos): Name the labels.")


def test_a_run_that_prefers_shorter_prompts_promotes_the_cheapest_within_noise_of_the_best(setup, provider):  # noqa: F811
    run = run_execute(run_id=_create(setup, prefer="shorter", iterations=3).pk)

    report = run.report
    best, cheapest = report["best"], report["cheapest_within_noise"]
    assert report["prefer"] == "shorter"
    assert cheapest is not None, "the scripted run validates several prompts that constrain the labels"
    assert cheapest["prompt_tokens"] < best["prompt_tokens"]
    assert report["winner"]["content"]["template"] == cheapest["content"]["template"]
    assert run.best_test_score == pytest.approx(1.0)  # as good on the test split as the best
    # The winner follows the accepted incumbents in the chain, so its history shows where it came from.
    winner = run.best_version
    ancestors = []
    version = winner.parent
    while version is not None:
        ancestors.append(version)
        version = version.parent
    assert ancestors[-1] == setup["version"]
    assert len(ancestors) == len(report["accepted"]) + 1
    assert "the cheapest prompt within noise of the best" in winner.commit_message
    assert Candidate.objects.filter(iteration__run=run, version=winner).exists()


def test_a_run_that_prefers_the_best_still_reports_the_cheapest_within_noise(setup, provider):  # noqa: F811
    run = run_execute(run_id=_create(setup, iterations=3).pk)

    report = run.report
    assert report["prefer"] == "best"
    assert report["winner"]["content"] == report["best"]["content"]
    assert report["cheapest_within_noise"]["prompt_tokens"] < report["best"]["prompt_tokens"]


def test_the_optimize_command_takes_prefer_shorter_and_prints_both_prompts_with_their_tokens(setup, provider, capsys):  # noqa: F811
    _optimize_command(setup, "--iterations", "3", "--prefer", "shorter")

    printed = capsys.readouterr().out
    best_line = next(line for line in printed.splitlines() if "best on validation:" in line)
    cheapest_line = next(line for line in printed.splitlines() if "cheapest within noise:" in line)
    assert "prompt tokens per call" in best_line
    assert cheapest_line.endswith("(the winner: --prefer shorter)")
