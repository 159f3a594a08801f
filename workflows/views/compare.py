"""The compare page: two or more evaluations (or versions, through their latest evaluations) on the same
data; scores with intervals side by side, a score-distribution chart, and per-example wins / losses / ties
with the outputs next to each other. Every side is compared with the first (B against A, C against A…)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.scope import visible_to
from promptopt.errors import PromptOptError
from promptopt.input_limits import parse_id
from promptopt.ui import TeamRequest, page, paginate, team_page
from prompts.models import DatasetVersion, PromptVersion
from prompts.splits import SPLIT_CHOICES, Split
from workflows.comparisons import COMPARABLE_STATUSES, Comparison, evaluations_compare, latest_comparable_pair
from workflows.forms import DatasetVersionChoiceField
from workflows.models import EvaluationRun, Prediction
from workflows.run_page import score_distribution_chart
from workflows.selectors import evaluation_list_visible_to

MAX_SIDES = 4
COMPARE_FILTERS = ("all", "wins", "losses", "ties")
_FILTER_OF = {"win": "wins", "loss": "losses", "tie": "ties"}


class VersionsForm(forms.Form):
    versions = forms.ModelMultipleChoiceField(
        queryset=PromptVersion.objects.none(), help_text="Two to four versions; the oldest is the reference."
    )
    dataset_version = DatasetVersionChoiceField(queryset=DatasetVersion.objects.none(), label="Dataset version")
    split = forms.ChoiceField(choices=SPLIT_CHOICES, initial=Split.TEST.value)

    def __init__(self, *args: Any, request: TeamRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions = visible_to(PromptVersion, request.actor).filter(prompt__team=request.team).select_related("prompt")
        datasets = (
            visible_to(DatasetVersion, request.actor).filter(dataset__team=request.team).select_related("dataset")
        )
        self.fields["versions"].queryset = versions.order_by("prompt__name", "-number")  # type: ignore[attr-defined]
        self.fields["versions"].label_from_instance = lambda v: f"{v.prompt.name} v{v.number}"  # type: ignore[attr-defined]
        self.fields["dataset_version"].queryset = datasets.order_by("dataset__name", "-number")  # type: ignore[attr-defined]

    def clean_versions(self) -> list[PromptVersion]:
        # Oldest first, whatever order the list showed them in: the reference is the version the others improve on.
        chosen = sorted(self.cleaned_data["versions"], key=lambda version: (version.created_at, version.pk))
        if not 2 <= len(chosen) <= MAX_SIDES:
            raise ValidationError(f"choose between 2 and {MAX_SIDES} versions (you chose {len(chosen)})")
        return chosen


def _evaluations_for_versions(request: TeamRequest, form: VersionsForm) -> list[int]:
    """Each version's latest finished evaluation on the data, all scored with the same metric as the first."""
    versions: list[PromptVersion] = form.cleaned_data["versions"]
    dataset_version, split = form.cleaned_data["dataset_version"], form.cleaned_data["split"]
    first, second = latest_comparable_pair(
        actor=request.actor, versions=(versions[0], versions[1]), dataset_version=dataset_version, split=split
    )
    chosen = [first.pk, second.pk]
    for version in versions[2:]:
        _, other = latest_comparable_pair(
            actor=request.actor, versions=(versions[0], version), dataset_version=dataset_version, split=split
        )
        chosen.append(other.pk)
    return chosen


@dataclass(frozen=True)
class ComparedExample:
    position: int
    inputs: dict[str, Any]
    expected: str
    outputs: list[tuple[str, float | None]]  # per side, in the sides' order
    verdict: str  # the last side against the first: "win", "loss" or "tie"


def compared_examples(evaluations: list[EvaluationRun]) -> list[ComparedExample]:
    """The examples every side scored, with every side's output and score."""
    by_side = [
        {
            p.example_id: p
            for p in Prediction.objects.filter(evaluation=e, score__isnull=False).select_related("example")
        }
        for e in evaluations
    ]
    shared = set(by_side[0]).intersection(*by_side[1:])
    rows = []
    for example_id in sorted(shared, key=lambda key: by_side[0][key].example.position):
        first, last = by_side[0][example_id], by_side[-1][example_id]
        delta = (last.score or 0.0) - (first.score or 0.0)
        verdict = "win" if delta > 0 else "loss" if delta < 0 else "tie"
        rows.append(
            ComparedExample(
                position=first.example.position,
                inputs=first.example.inputs,
                expected=first.example.expected_output,
                outputs=[(side[example_id].output, side[example_id].score) for side in by_side],
                verdict=verdict,
            )
        )
    return rows


def _chosen_ids(request: TeamRequest) -> list[int]:
    ids = [parse_id(value) for value in request.GET.getlist("evaluations")]
    return list(dict.fromkeys(value for value in ids if value is not None))


@team_page
def compare(request: TeamRequest) -> HttpResponse:
    versions_form = VersionsForm(request.GET if "versions" in request.GET else None, request=request)
    errors: list[str] = []
    if versions_form.is_bound and versions_form.is_valid():
        try:
            chosen = _evaluations_for_versions(request, versions_form)
        except PromptOptError as error:
            errors.append(str(error))
        else:
            target = reverse("ui:compare", args=[request.team.slug])
            return HttpResponseRedirect(f"{target}?{urlencode({'evaluations': chosen}, doseq=True)}")
    ids = _chosen_ids(request)
    candidates = (
        evaluation_list_visible_to(actor=request.actor)
        .filter(team=request.team, status__in=COMPARABLE_STATUSES)
        .order_by("-finished_at", "-pk")[:50]
    )
    context: dict[str, Any] = {
        "versions_form": versions_form,
        "candidates": candidates,
        "chosen": ids,
        "errors": errors,
    }
    if ids:
        found = {e.pk: e for e in evaluation_list_visible_to(actor=request.actor).filter(team=request.team, pk__in=ids)}
        evaluations = [found[pk] for pk in ids if pk in found]
        if len(evaluations) < 2:
            errors.append("Choose at least two evaluations of this team.")
        elif len(evaluations) > MAX_SIDES:
            errors.append(f"Compare at most {MAX_SIDES} evaluations at once.")
        else:
            context |= _comparison_context(request, evaluations, errors)
    return page(request, "ui/compare.html", context)


def _comparison_context(request: TeamRequest, evaluations: list[EvaluationRun], errors: list[str]) -> dict[str, Any]:
    comparisons: list[Comparison] = []
    for other in evaluations[1:]:
        try:
            comparisons.append(evaluations_compare(actor=request.actor, a=evaluations[0], b=other))
        except (PromptOptError, ValidationError) as error:
            errors.append(str(error))
    if errors:
        return {}
    show = request.GET.get("show", "all")
    show = show if show in COMPARE_FILTERS else "all"
    everything = compared_examples(evaluations)  # the chart shows them all; the table, the chosen ones
    rows = everything if show == "all" else [row for row in everything if _FILTER_OF[row.verdict] == show]
    names = [f"{e.version.prompt.name} v{e.version.number} (evaluation {e.pk})" for e in evaluations]
    distribution = score_distribution_chart(
        [(name, [row.outputs[side][1] or 0.0 for row in everything]) for side, name in enumerate(names)]
    )
    return {
        "evaluations": evaluations,
        "names": names,
        "comparisons": comparisons,
        "others": list(zip(names[1:], comparisons, strict=True)),
        "distribution": distribution,
        "rows": paginate(request, rows),
        "show": show,
        "filters": COMPARE_FILTERS,
        "query_ids": urlencode({"evaluations": [e.pk for e in evaluations]}, doseq=True),
    }
