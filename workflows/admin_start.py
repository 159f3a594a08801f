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
from promptopt.errors import PromptOptError
from promptopt.input_limits import parse_id
from prompts.models import PromptVersion
from prompts.splits import Split
from workflows.forms import EvaluationStartForm, RunStartForm
from workflows.services import evaluation_create, run_create

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


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
    form = RunStartForm(request.POST or None, actor=acting_actor(request), initial=_initial(request))
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
    form = EvaluationStartForm(request.POST or None, actor=acting_actor(request), initial=_initial(request))
    if request.method == "POST" and form.is_valid():
        version: PromptVersion = form.cleaned_data["version"]
        try:
            evaluation = evaluation_create(
                team=version.prompt.team,
                version=version,
                dataset_version=form.cleaned_data["dataset_version"],
                split=Split(form.cleaned_data["split"]),
                config=form.evaluation_config(),
                actor=acting_actor(request),
            )
        except (ValidationError, PromptOptError) as error:
            form.add_error(None, service_error_message(error))
        else:
            messages.success(request, f"Evaluation {evaluation.pk} is queued for the workers.")
            return HttpResponseRedirect(reverse("admin:workflows_evaluationrun_change", args=[evaluation.pk]))
    return _page(model_admin, request, form, "Start an evaluation")
