"""The admin page that uploads a dataset file as a new dataset version, through the import service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.admin_scoping import acting_actor, service_error_message
from accounts.models import Team
from accounts.selectors import team_list_writable_by
from promptopt.errors import PromptOptError
from promptopt.input_limits import parse_id
from prompts.admin_forms import DatasetImportForm
from prompts.importers import DatasetFileError
from prompts.models import Dataset
from prompts.services import SplitSettings, dataset_version_import

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


def _initial(request: HttpRequest, teams: Any) -> dict[str, Any]:
    """Coming from a dataset's page, the form starts with that dataset's team and name."""
    dataset_id = request.GET.get("dataset", "")
    pk = parse_id(dataset_id)
    dataset = Dataset.objects.filter(pk=pk, team__in=teams).first() if pk is not None else None
    if dataset is None:
        return {}
    return {"team": dataset.team_id, "name": dataset.name}


def dataset_import_view(model_admin: ModelAdmin[Dataset], request: HttpRequest) -> HttpResponse:
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    teams = team_list_writable_by(actor=acting_actor(request))
    form = DatasetImportForm(request.POST or None, request.FILES or None, teams=teams, initial=_initial(request, teams))
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        team: Team = form.cleaned_data["team"]
        if upload.size > settings.DATASET_MAX_BYTES:
            form.add_error("file", f"{upload.size} bytes is over the limit of {settings.DATASET_MAX_BYTES} bytes.")
        else:
            try:
                result = dataset_version_import(
                    team=team,
                    dataset_name=form.cleaned_data["name"],
                    file_name=upload.name or "upload",
                    content=upload.read(),
                    options=form.import_options(
                        max_bytes=settings.DATASET_MAX_BYTES, max_rows=settings.DATASET_MAX_ROWS
                    ),
                    split_settings=SplitSettings(seed=form.cleaned_data["seed"]),
                    actor=acting_actor(request),
                )
            except DatasetFileError as error:
                form.add_error("file", ["Nothing was saved:", *(str(problem) for problem in error.problems)])
            except (ValidationError, PromptOptError) as error:
                form.add_error(None, service_error_message(error))
            else:
                version = result.version
                if result.dropped_duplicates:
                    messages.warning(request, f"Dropped {len(result.dropped_duplicates)} duplicate rows.")
                if result.created:
                    messages.success(
                        request,
                        f"Imported {version.row_count} rows as {version} "
                        f"({', '.join(f'{k} {v}' for k, v in version.split_counts.items())}).",
                    )
                else:
                    messages.info(request, f"Nothing new: the file is identical to {version}.")
                return HttpResponseRedirect(reverse("admin:prompts_datasetversion_change", args=[version.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import a dataset file",
        "form": form,
        "opts": model_admin.model._meta,
        "limit_megabytes": settings.DATASET_MAX_BYTES / (1024 * 1024),
    }
    return TemplateResponse(request, "admin/prompts/dataset/import.html", context)
