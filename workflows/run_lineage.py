"""A finished run's accepted prompts saved as versions, each the parent of the next, so the winner's history
shows every step the search took: baseline → first accepted → … → winner.

Called inside the run's final transaction (workflows/run_runner.py), after the test split was scored.
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.models import PromptVersion, VersionSource
from prompts.services import version_create, version_find_identical
from workflows.engine.shorter import WinnerChoice
from workflows.engine.state import Acceptance, CandidateState, EngineState
from workflows.models import Candidate, OptimizationRun

MAX_COMMIT_MESSAGE_CHARS = 500


def lineage_save(
    run: OptimizationRun,
    state: EngineState,
    choice: WinnerChoice,
    winner: CandidateState,
    winner_content: PromptContent,
    *,
    as_searched: Callable[[PromptContent], PromptContent],
    provider_name: str,
    model_name: str,
) -> PromptVersion:
    """Every accepted incumbent as a version (source optimizer) chained from the baseline; the winner last.

    `winner_content` is the winner as the final test scored it; `as_searched` turns an earlier incumbent into
    the prompt it was validated as (its output bound). The winner is usually the last accepted incumbent; when
    the run preferred a cheaper prompt within noise of it, that prompt follows the best in the chain (or, when
    it was itself an earlier incumbent, is that step's version). A prompt identical to an existing version is
    not saved twice: the existing version takes its place.
    """
    contents = {candidate.key: candidate for candidate in (*state.history, *state.beam, state.incumbent)}
    parent = run.baseline_version
    for acceptance in state.acceptances:
        if acceptance.key == winner.key == state.incumbent.key:
            continue  # the last step is the winner: saved below, as the prompt the test scored
        content = as_searched(contents[acceptance.key].prompt())
        parent = _saved(run, content, parent, _step_message(run, acceptance), provider_name, model_name)
        Candidate.objects.filter(iteration__run=run, key=acceptance.key).update(version=parent)
    accepted = next((item for item in state.acceptances if item.key == winner.key), None)
    if accepted is not None:
        message = _step_message(run, accepted)
    else:
        message = (
            f"Optimization run {run.pk}: the cheapest prompt within noise of the best "
            f"({_tokens(choice.cheapest_tokens)} prompt tokens per call instead of {_tokens(choice.best_tokens)}), "
            f"not significantly below it on the "
            f"validation rows both were scored on and beyond noise of the baseline ({winner.strategy}: "
            f"{winner.rationale or 'no rationale'})."
        )
    version = _saved(run, winner_content, parent, message, provider_name, model_name)
    Candidate.objects.filter(iteration__run=run, key=winner.key).update(version=version)
    return version


def _tokens(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _saved(
    run: OptimizationRun,
    content: PromptContent,
    parent: PromptVersion,
    message: str,
    provider_name: str,
    model_name: str,
) -> PromptVersion:
    # Saved for the model the run searched with (a run may override the version's own provider and model).
    draft = content.edit(provider=provider_name, model_name=model_name)
    existing = version_find_identical(prompt=run.prompt, draft=draft)
    if existing is not None:
        return existing
    return version_create(
        prompt=run.prompt,
        draft=draft,
        # The system saves it, in the name of whoever started the run (their later loss of the editor role
        # must not lose a finished run's winner); the audit fields name them.
        actor=Actor.system(
            f"optimization run {run.pk}", on_behalf_of_user=run.created_by, on_behalf_of_key=run.created_by_api_key
        ),
        parent=parent,
        source=VersionSource.OPTIMIZER,
        commit_message=message[:MAX_COMMIT_MESSAGE_CHARS],
    )


def _step_message(run: OptimizationRun, acceptance: Acceptance) -> str:
    return (
        f"Optimization run {run.pk}, iteration {acceptance.iteration} ({acceptance.strategy}): "
        f"{acceptance.rationale or 'accepted'} Validation {acceptance.validation_score:.3f}, "
        f"gain {acceptance.gain:+.3f} (CI {acceptance.gain_low:+.3f} to {acceptance.gain_high:+.3f})."
    )
