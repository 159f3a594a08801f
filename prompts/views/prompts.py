"""Web UI pages for prompts: the list, a prompt's timeline and lineage, versions, the diff, the editor, labels
and the playground. Reads go through the selectors' tenant scope, writes through the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Prefetch, Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from promptopt.errors import PromptOptError
from promptopt.input_limits import parse_id
from promptopt.ui import TeamRequest, add_service_error, page, paginate, require_write, team_page
from prompts.content import CONTENT_FIELDS
from prompts.diff import changed_fields, side_by_side
from prompts.forms import LabelMoveForm, PromptNewForm, VersionForm
from prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion, VersionSource
from prompts.placeholders import template_variables
from prompts.selectors import label_list, prompt_get, prompt_list_visible_to, version_latest
from prompts.services import LABEL_ABSENT, label_move, prompt_create, version_create
from workflows.models import Candidate, EvaluationRun, OptimizationRun


def _prompt(request: TeamRequest, slug: str) -> Prompt:
    return prompt_get(actor=request.actor, team=request.team, slug=slug)


def _version(prompt: Prompt, number: int) -> PromptVersion:
    version = (
        PromptVersion.objects.filter(prompt=prompt, number=number)
        .select_related("prompt", "parent", "created_by", "created_by_api_key")
        .first()
    )
    if version is None:
        raise Http404(f"prompt {prompt.slug!r} has no version {number}")
    return version


def _number(value: str | None) -> int | None:
    return parse_id(value or "")


@team_page
def prompt_list(request: TeamRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    rows = prompt_list_visible_to(actor=request.actor).filter(team=request.team)
    if query:
        rows = rows.filter(Q(name__icontains=query) | Q(slug__icontains=query) | Q(description__icontains=query))
    rows = (
        rows.annotate(latest=Max("versions__number"), version_count=Count("versions"))
        .prefetch_related(Prefetch("labels", queryset=PromptLabel.objects.select_related("version").order_by("name")))
        .order_by("name", "pk")
    )
    return page(request, "ui/prompts/list.html", {"prompts": paginate(request, rows), "query": query})


@team_page
def prompt_new(request: TeamRequest) -> HttpResponse:
    require_write(request)
    form = PromptNewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            prompt = prompt_create(
                team=request.team,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                first_version=form.draft(),
                commit_message=form.cleaned_data["commit_message"],
                actor=request.actor,
            )
        except (ValidationError, PromptOptError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Prompt {prompt.name} is saved with its version 1.")
            return HttpResponseRedirect(reverse("ui:prompt", args=[request.team.slug, prompt.slug]))
    return page(request, "ui/prompts/new.html", {"form": form})


@dataclass(frozen=True)
class MadeBy:
    run_id: int
    strategy: str


def _made_by(versions: list[PromptVersion]) -> dict[int, MadeBy]:
    """Optimizer-made versions → the run and strategy that proposed them."""
    rows = Candidate.objects.filter(version__in=versions, accepted=True).values_list(
        "version_id", "iteration__run_id", "strategy"
    )
    return {version_id: MadeBy(run_id, strategy) for version_id, run_id, strategy in rows}


def _lineages(prompt: Prompt) -> list[list[tuple[int, str]]]:
    """Each optimizer-made leaf's chain back to its first ancestor: [(number, source), …], oldest first."""
    rows = list(PromptVersion.objects.filter(prompt=prompt).values_list("pk", "number", "parent_id", "source"))
    by_pk = {pk: (number, parent, source) for pk, number, parent, source in rows}
    has_children = {parent for _, _, parent, _ in rows if parent is not None}
    chains = []
    for pk, (_, _, source) in sorted(by_pk.items(), key=lambda item: -item[1][0]):
        if pk in has_children or source != VersionSource.OPTIMIZER:
            continue
        chain: list[tuple[int, str]] = []
        current: int | None = pk
        while current is not None and current in by_pk and len(chain) < 50:
            number, parent, kind = by_pk[current]
            chain.append((number, kind))
            current = parent
        chains.append(chain[::-1])
    return chains[:10]


@team_page
def prompt_detail(request: TeamRequest, prompt: str) -> HttpResponse:
    found = _prompt(request, prompt)
    versions = (
        PromptVersion.objects.filter(prompt=found)
        .select_related("parent", "created_by", "created_by_api_key")
        .prefetch_related(Prefetch("labels", queryset=PromptLabel.objects.order_by("name")))
        .order_by("-number")
    )
    timeline = paginate(request, versions)
    moves = (
        PromptLabelMove.objects.filter(prompt=found)
        .select_related("from_version", "to_version", "moved_by", "moved_by_api_key")
        .order_by("-moved_at", "-pk")[:10]
    )
    context = {
        "prompt": found,
        "timeline": timeline,
        "made_by": _made_by(list(timeline.object_list)),
        "labels": label_list(prompt=found).order_by("name"),
        "moves": moves,
        "lineages": _lineages(found),
        "runs": OptimizationRun.objects.filter(prompt=found)
        .select_related("baseline_version", "best_version")
        .defer("checkpoint", "report")
        .order_by("-created_at", "-pk")[:5],
        "label_form": LabelMoveForm(
            initial={"version": timeline.object_list[0].number} if timeline.object_list else {}
        ),
    }
    return page(request, "ui/prompts/detail.html", context)


@team_page
def version_detail(request: TeamRequest, prompt: str, number: int) -> HttpResponse:
    found = _prompt(request, prompt)
    version = _version(found, number)
    context = {
        "prompt": found,
        "version": version,
        "variables": template_variables(version.template),
        "labels": version.labels.order_by("name"),
        "made_by": _made_by([version]).get(version.pk),
        "runs": OptimizationRun.objects.filter(Q(baseline_version=version) | Q(best_version=version))
        .defer("checkpoint", "report")
        .order_by("-created_at", "-pk")[:10],
        "evaluations": EvaluationRun.objects.filter(version=version)
        .select_related("dataset_version__dataset")
        .order_by("-created_at", "-pk")[:10],
    }
    return page(request, "ui/prompts/version.html", context)


@team_page
def version_diff(request: TeamRequest, prompt: str) -> HttpResponse:
    """Two versions side by side, word by word (?a=1&b=2; by default the latest against its parent)."""
    found = _prompt(request, prompt)
    numbers = list(PromptVersion.objects.filter(prompt=found).order_by("-number").values_list("number", flat=True))
    if not numbers:
        raise Http404("this prompt has no versions yet")
    after_number = _number(request.GET.get("b")) or numbers[0]
    after = _version(found, after_number)
    before_number = _number(request.GET.get("a")) or (after.parent.number if after.parent else after_number)
    before = _version(found, before_number)
    old, new = before.content(), after.content()
    context = {
        "prompt": found,
        "before": before,
        "after": after,
        "numbers": numbers,
        "rows": side_by_side(old, new),
        "changes": changed_fields(old, new),
        "before_name": f"v{before.number}",
        "after_name": f"v{after.number}",
    }
    return page(request, "ui/prompts/diff.html", context)


@team_page
def version_new(request: TeamRequest, prompt: str) -> HttpResponse:
    """The editor: starts from a version (?from=N, default the latest) and saves a new one with a message."""
    found = _prompt(request, prompt)
    require_write(request)
    start_number = _number(request.POST.get("parent") or request.GET.get("from"))
    start = _version(found, start_number) if start_number else version_latest(prompt=found)
    initial = {name: getattr(start, name) for name in CONTENT_FIELDS} if start else {}
    form = VersionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            version = version_create(
                prompt=found,
                draft=form.draft(),
                parent=start,
                commit_message=form.cleaned_data["commit_message"],
                actor=request.actor,
            )
        except (ValidationError, PromptOptError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Saved version {version.number}.")
            return HttpResponseRedirect(reverse("ui:version", args=[request.team.slug, found.slug, version.number]))
    return page(request, "ui/prompts/edit.html", {"prompt": found, "start": start, "form": form})


@team_page
def label_move_view(request: TeamRequest, prompt: str) -> HttpResponse:
    """Move a label in two steps: the form asks, a confirmation page shows from where to where, then it moves."""
    found = _prompt(request, prompt)
    require_write(request)
    if request.method != "POST":
        return HttpResponseRedirect(reverse("ui:prompt", args=[request.team.slug, found.slug]))
    form = LabelMoveForm(request.POST)
    context: dict[str, Any] = {"prompt": found, "form": form}
    if form.is_valid():
        name, number = form.cleaned_data["name"], form.cleaned_data["version"]
        target = PromptVersion.objects.filter(prompt=found, number=number).first()
        current = PromptLabel.objects.filter(prompt=found, name=name).select_related("version").first()
        if target is None:
            form.add_error("version", f"this prompt has no version {number}")
        elif not form.cleaned_data["confirmed"]:
            expected = current.version.number if current else LABEL_ABSENT
            confirm = LabelMoveForm(initial={"name": name, "version": number, "expected": expected, "confirmed": True})
            context |= {"confirm": confirm, "target": target, "current": current}
        else:
            try:
                label_move(
                    prompt=found,
                    name=name,
                    version=target,
                    expected_number=form.cleaned_data["expected"],
                    actor=request.actor,
                )
            except (ValidationError, PromptOptError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, f"Label {name} now points at version {number}.")
                return HttpResponseRedirect(reverse("ui:prompt", args=[request.team.slug, found.slug]))
    return page(request, "ui/prompts/label_move.html", context)
