"""Evaluation runs end to end: validation before any call, predictions, scores with intervals, cache, faults."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actors import Actor
from promptopt.errors import InvalidInputError
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from prompts.splits import Split
from tests.bounded_time import within_seconds
from tests.engine.engine_support import WorkerKilled
from workflows.evaluation_runner import evaluation_execute
from workflows.gateway.providers.base import ProviderRequestError, ProviderUnavailableError
from workflows.gateway.types import Generation
from workflows.models import EvaluationRun, JobStatus, LLMCallCache, Prediction
from workflows.services import evaluation_create

ROWS = [(f"review {i} {'good' if i % 2 else 'bad'}", "positive" if i % 2 else "negative") for i in range(30)]


class ScriptedProvider:
    """Answers from the review text: 'good' → positive; optionally fails on chosen inputs."""

    name = "local"
    model_name = "scripted"

    def __init__(self, *, fail_on: str = "", error: Exception | None = None) -> None:
        self.calls = 0
        self.fail_on = fail_on
        self.error = error

    def generate(self, requests):
        results = []
        for request in requests:
            self.calls += 1
            text = request.prompt.completion_text
            if self.fail_on and self.fail_on in text:
                raise self.error or ProviderRequestError("refused")
            results.append(
                Generation(
                    text="positive" if "good" in text.splitlines()[-2] else "negative", input_tokens=10, output_tokens=1
                )
            )
        return results


@pytest.fixture
def setup(team, editor):
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=Actor.for_user(editor),
        first_version=PromptContent(template="Review: {{text}}\nSentiment:"),
    )
    content = ("text,target\n" + "\n".join(f"{text},{label}" for text, label in ROWS)).encode()
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=content,
        options=ImportOptions(),
        actor=Actor.for_user(editor),
    ).version
    return {"team": team, "editor": editor, "version": prompt.versions.get(), "dataset_version": dataset_version}


@pytest.fixture
def scripted(monkeypatch):
    provider = ScriptedProvider()
    monkeypatch.setattr("workflows.evaluation_runner.provider_build", lambda **kwargs: provider)
    return provider


def _create(setup, **config):
    return evaluation_create(
        team=setup["team"],
        version=setup["version"],
        dataset_version=setup["dataset_version"],
        split=Split.TEST,
        config={"metric": {"name": "exact_match"}, **config},
        actor=Actor.for_user(setup["editor"]),
        enqueue=False,
    )


def test_it_scores_every_example_of_the_split_with_an_interval(setup, scripted):
    evaluation = _create(setup)

    outcome = evaluation_execute(evaluation_id=evaluation.pk)

    result = outcome.evaluation
    test_count = setup["dataset_version"].split_counts["test"]
    assert (result.status, result.example_count, result.scored_count) == (JobStatus.SUCCEEDED, test_count, test_count)
    assert result.score == 1.0 and result.score_ci_low == 1.0 and result.score_ci_high == 1.0
    assert (result.calls, result.cached_calls, result.input_tokens) == (test_count, 0, 10 * test_count)
    assert Prediction.objects.filter(evaluation=result).count() == test_count


class ChattyProvider(ScriptedProvider):
    """Answers every example with a long run of letters: text a backtracking regex engine chokes on."""

    def generate(self, requests):
        self.calls += len(requests)
        return [Generation(text="a" * 40 + "?", input_tokens=10, output_tokens=40) for _ in requests]


def test_it_finishes_an_evaluation_whose_regex_would_backtrack_for_hours(setup, monkeypatch):
    monkeypatch.setattr("workflows.evaluation_runner.provider_build", lambda **kwargs: ChattyProvider())
    evaluation = _create(setup, metric={"name": "regex", "pattern": r"(\D+)+!"})

    # With Python's re each of these outputs takes about 2**40 steps; the evaluation stayed "running" for good.
    result = within_seconds(lambda: evaluation_execute(evaluation_id=evaluation.pk)).evaluation

    assert (result.status, result.score) == (JobStatus.SUCCEEDED, 0.0)
    assert result.scored_count == result.example_count > 0


def test_it_answers_a_repeated_evaluation_from_the_cache_with_zero_calls(setup, scripted):
    evaluation_execute(evaluation_id=_create(setup).pk)
    calls_before = scripted.calls

    second = evaluation_execute(evaluation_id=_create(setup).pk).evaluation

    assert scripted.calls == calls_before
    assert (second.calls, second.cached_calls) == (0, second.example_count)
    assert LLMCallCache.objects.filter(team=setup["team"]).count() == second.example_count


def test_it_keeps_completed_predictions_and_ends_partial_when_the_provider_fails(setup, scripted):
    scripted.fail_on = "review 1 good"  # one example's request is refused by the provider

    result = evaluation_execute(evaluation_id=_create(setup).pk).evaluation

    failing = Prediction.objects.filter(evaluation=result, score=None)
    if failing.exists():  # the failing row may be in another split
        assert result.status == JobStatus.PARTIAL
        assert "refused" in result.error_message and failing.get().error == "refused"
        assert result.scored_count == result.example_count - 1
    else:
        assert result.status == JobStatus.SUCCEEDED


def test_it_stops_at_the_call_budget_with_what_was_done(setup, scripted):
    result = evaluation_execute(evaluation_id=_create(setup, budget={"max_calls": 3}).pk).evaluation

    assert result.status == JobStatus.PARTIAL
    assert (result.calls, result.scored_count) == (3, 3)
    assert "max_calls" in result.error_message


def test_it_ignores_a_second_delivery_of_the_same_evaluation(setup, scripted):
    evaluation = _create(setup)
    evaluation_execute(evaluation_id=evaluation.pk)

    assert evaluation_execute(evaluation_id=evaluation.pk) is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"metric": {"name": "regex", "pattern": "("}}, "metric: pattern: not a valid regular expression"),
        ({"metric": {"name": "nope"}}, "metric"),
        ({"provider": "vertex"}, "VERTEX_PROJECT"),
        ({"provider": "martian"}, "unknown provider 'martian'"),
        ({"budget": {"max_calls": 0}}, "budget.max_calls"),
    ],
)
def test_it_refuses_a_bad_configuration_before_any_call(setup, scripted, config, message):
    with pytest.raises(InvalidInputError, match=message):
        _create(setup, **config)
    assert EvaluationRun.objects.count() == 0 and scripted.calls == 0


def test_it_refuses_a_template_variable_the_dataset_does_not_have(setup, scripted, editor):
    from prompts.services import version_create

    version = version_create(
        prompt=setup["version"].prompt,
        draft=PromptContent(template="{{title}}: {{text}}"),
        actor=Actor.for_user(editor),
    )
    with pytest.raises(InvalidInputError, match="template: 'title' not among the dataset's inputs"):
        evaluation_create(
            team=setup["team"],
            version=version,
            dataset_version=setup["dataset_version"],
            split=Split.TEST,
            config={},
            actor=Actor.for_user(editor),
            enqueue=False,
        )


def test_it_retries_a_temporarily_unavailable_provider(setup, scripted):
    class Flaky(ScriptedProvider):
        failures = 2

        def generate(self, requests):
            if self.failures:
                self.failures -= 1
                raise ProviderUnavailableError("503 from upstream", retry_after_seconds=0)
            return super().generate(requests)

    flaky = Flaky()
    import workflows.evaluation_runner as runner

    runner_provider = runner.provider_build
    runner.provider_build = lambda **kwargs: flaky
    try:
        result = evaluation_execute(evaluation_id=_create(setup).pk).evaluation
    finally:
        runner.provider_build = runner_provider

    assert result.status == JobStatus.SUCCEEDED


def test_it_grades_with_an_llm_judge_through_the_gateway_and_counts_its_calls(setup, monkeypatch):
    class AnswerAndJudge(ScriptedProvider):
        def generate(self, requests):
            judged = [r for r in requests if r.prompt.completion_text.endswith("Grade:")]
            if judged:
                self.calls += len(judged)
                return [Generation(text="4", input_tokens=30, output_tokens=1) for _ in judged]
            return super().generate(requests)

    provider = AnswerAndJudge()
    monkeypatch.setattr("workflows.evaluation_runner.provider_build", lambda **kwargs: provider)

    result = evaluation_execute(evaluation_id=_create(setup, metric={"name": "llm_judge"}).pk).evaluation

    assert result.status == JobStatus.SUCCEEDED and result.score == 0.75
    assert result.calls == 2 * result.example_count  # one answer and one grading call per example
    feedback = set(Prediction.objects.filter(evaluation=result).values_list("feedback", flat=True))
    assert feedback == {"the judge graded it 4/5 under correctness-v1"}


def test_it_refuses_a_private_base_url_unless_the_deployment_allows_that_host(settings):
    from workflows.gateway.providers.base import ProviderConfigError
    from workflows.provider_factory import provider_build

    settings.HF_BASE_URL = "http://169.254.169.254/"
    settings.ALLOW_PRIVATE_BASE_URLS = False
    settings.PROVIDER_ALLOWED_HOSTS = []
    with pytest.raises(ProviderConfigError, match="link-local"):
        provider_build(name="huggingface", model="m")

    settings.HF_BASE_URL = "http://127.0.0.1:9/"
    settings.PROVIDER_ALLOWED_HOSTS = ["127.0.0.1"]
    assert provider_build(name="huggingface", model="m").name == "huggingface"


def test_it_refuses_an_unreachable_base_url_when_the_evaluation_is_created(setup, settings):
    from tests.local_http import closed_local_port

    port = closed_local_port()
    settings.HF_BASE_URL = f"http://127.0.0.1:{port}/"
    settings.PROVIDER_ALLOWED_HOSTS = ["127.0.0.1"]

    with pytest.raises(InvalidInputError, match=f"base_url: nothing answers at 127.0.0.1:{port}"):
        _create(setup, provider="huggingface", model="served-model")
    assert EvaluationRun.objects.count() == 0


class KillingProvider(ScriptedProvider):
    """Dies with its worker on the `kill_at`-th request, after receiving it."""

    def __init__(self, kill_at: int) -> None:
        super().__init__()
        self.kill_at: int | None = kill_at

    def generate(self, requests):
        if self.kill_at is not None and self.calls + len(requests) >= self.kill_at:
            self.calls += len(requests)
            self.kill_at = None
            raise WorkerKilled
        return super().generate(requests)


def test_a_resumed_evaluation_spends_only_what_its_budget_has_left(setup, monkeypatch):
    test_count = setup["dataset_version"].split_counts["test"]
    provider = KillingProvider(kill_at=3)
    monkeypatch.setattr("workflows.evaluation_runner.provider_build", lambda **kwargs: provider)
    evaluation = _create(setup, budget={"max_calls": test_count})
    with pytest.raises(WorkerKilled):
        evaluation_execute(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.calls == 3 and not Prediction.objects.filter(evaluation=evaluation).exists()
    EvaluationRun.objects.filter(pk=evaluation.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    result = evaluation_execute(evaluation_id=evaluation.pk).evaluation

    # Two answers came back from the cache; the call in flight at the kill is made again, and the budget,
    # counting the three calls of the first attempt, leaves room for all but one example.
    assert provider.calls == result.calls == test_count
    assert (result.status, result.cached_calls, result.scored_count) == (JobStatus.PARTIAL, 2, test_count - 1)
    assert "max_calls" in result.error_message
