"""Admin pages that start an optimization run or an evaluation on the background workers.

The same services as the API and the commands (`run_create`, `evaluation_create`), with the same defaults
and option assembly; the form only collects what a person fills in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.admin_scoping import acting_actor, service_error_message
from accounts.scope import writable_by
from promptopt.errors import PromptOptError
from promptopt.form_fields import LimitedJSONField
from promptopt.input_limits import MAX_SEED, parse_id
from prompts.models import DatasetVersion, PromptVersion
from prompts.splits import SPLIT_CHOICES, Split
from workflows.engine.config import run_config_from_options
from workflows.engine.strategies.registry import STRATEGY_NAMES
from workflows.evaluation_config import evaluation_config_from_options
from workflows.services import evaluation_create, run_create

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


class _TargetForm(forms.Form):
    """A version and a dataset version of teams the person may write to."""

    version = forms.ModelChoiceField(queryset=PromptVersion.objects.none(), help_text="The prompt version to use.")
    dataset_version = forms.ModelChoiceField(queryset=DatasetVersion.objects.none())
    metric = forms.CharField(
        required=False,
        help_text='A metric name (e.g. exact_match) or a JSON config such as {"name": "regex", "pattern": "…"}.',
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        actor = acting_actor(request)
        versions = writable_by(PromptVersion, actor).select_related("prompt").order_by("prompt__name", "-number")
        datasets = writable_by(DatasetVersion, actor).select_related("dataset").order_by("dataset__name", "-number")
        self.fields["version"].queryset = versions  # type: ignore[attr-defined]
        self.fields["dataset_version"].queryset = datasets  # type: ignore[attr-defined]

    def metric_config(self) -> dict[str, Any] | None:
        text: str = self.cleaned_data["metric"].strip()
        if not text:
            return None
        if text.startswith("{"):
            return dict(LimitedJSONField().clean(text))
        return {"name": text}


class RunStartForm(_TargetForm):
    strategies = forms.MultipleChoiceField(
        choices=[(name, name) for name in STRATEGY_NAMES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked for auto: every strategy that can work with what is configured.",
    )
    iterations = forms.IntegerField(required=False, min_value=1, max_value=100)
    max_calls = forms.IntegerField(required=False, min_value=1, help_text="Most provider calls, final test included.")
    max_seconds = forms.FloatField(required=False, min_value=1)
    seed = forms.IntegerField(required=False, min_value=0, max_value=MAX_SEED)
    config = LimitedJSONField(required=False, help_text="Any other run settings as JSON; the fields above win.")

    def run_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        options = {name: data.get(name) for name in ("iterations", "max_calls", "max_seconds", "seed")}
        options |= {"strategies": data["strategies"], "metric": self.metric_config()}
        base = data.get("config")
        if base is not None and not isinstance(base, dict):
            raise ValidationError({"config": "must be a JSON object"})
        return run_config_from_options(options, base)


class EvaluationStartForm(_TargetForm):
    split = forms.ChoiceField(choices=SPLIT_CHOICES, initial=Split.TEST.value)
    max_calls = forms.IntegerField(required=False, min_value=1)
    fresh = forms.BooleanField(required=False, help_text="Ask the model again even when the cache has the answer.")


def _page(model_admin: ModelAdmin[Any], request: HttpRequest, form: forms.Form, title: str) -> HttpResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, "admin/workflows/start.html", context)


def _initial(request: HttpRequest) -> dict[str, Any]:
    version = request.GET.get("version", "")
    pk = parse_id(version)
    return {"version": pk} if pk is not None else {}


def start_run_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = RunStartForm(request.POST or None, request=request, initial=_initial(request))
    if request.method == "POST" and form.is_valid():
        version: PromptVersion = form.cleaned_data["version"]
        try:
            run = run_create(
                team=version.prompt.team,
                version=version,
                dataset_version=form.cleaned_data["dataset_version"],
                config=form.run_config(),
                actor=acting_actor(request),
            )
        except (ValidationError, PromptOptError) as error:
            form.add_error(None, service_error_message(error))
        else:
            estimate = run.estimate
            messages.success(
                request,
                f"Run {run.pk} is queued for the workers (at most {estimate['calls']} calls, "
                f"{estimate['test_calls']} of them for the final test).",
            )
            return HttpResponseRedirect(reverse("admin:workflows_optimizationrun_change", args=[run.pk]))
    return _page(model_admin, request, form, "Start an optimization")


def start_evaluation_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = EvaluationStartForm(request.POST or None, request=request, initial=_initial(request))
    if request.method == "POST" and form.is_valid():
        version: PromptVersion = form.cleaned_data["version"]
        try:
            evaluation = evaluation_create(
                team=version.prompt.team,
                version=version,
                dataset_version=form.cleaned_data["dataset_version"],
                split=Split(form.cleaned_data["split"]),
                config=evaluation_config_from_options(
                    metric=form.metric_config(),
                    max_calls=form.cleaned_data.get("max_calls"),
                    fresh=form.cleaned_data["fresh"],
                ),
                actor=acting_actor(request),
            )
        except (ValidationError, PromptOptError) as error:
            form.add_error(None, service_error_message(error))
        else:
            messages.success(request, f"Evaluation {evaluation.pk} is queued for the workers.")
            return HttpResponseRedirect(reverse("admin:workflows_evaluationrun_change", args=[evaluation.pk]))
    return _page(model_admin, request, form, "Start an evaluation")
