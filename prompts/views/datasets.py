"""Web UI pages for datasets: the list, the two-step upload (preview and column mapping, then import), and a
dataset version's page with its split counts and a searchable example browser."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Max, Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from promptopt.errors import NotFoundError, PromptOptError
from promptopt.ui import TeamRequest, add_service_error, page, paginate, require_write, team_page
from prompts.forms import DatasetMappingForm, DatasetUploadForm
from prompts.importers import DatasetFileError, preview_dataset_file
from prompts.models import DatasetVersion
from prompts.selectors import dataset_get, dataset_list_visible_to, dataset_version_latest, example_list
from prompts.services import dataset_version_import
from prompts.splits import Split
from prompts.upload_staging import upload_discard, upload_stage, upload_staged


def _user_id(request: TeamRequest) -> int:
    user = request.actor.user
    if user is None:  # team_page signs people in; a staged upload always belongs to one
        raise Http404("sign in to upload")
    return int(user.pk)


@team_page
def dataset_list(request: TeamRequest) -> HttpResponse:
    rows = (
        dataset_list_visible_to(actor=request.actor)
        .filter(team=request.team)
        .annotate(latest=Max("versions__number"))
        .order_by("name", "pk")
    )
    return page(request, "ui/datasets/list.html", {"datasets": paginate(request, rows)})


@team_page
def dataset_upload(request: TeamRequest) -> HttpResponse:
    """Step one: read the file, check it can be read at all, and keep it for the mapping step."""
    require_write(request)
    form = DatasetUploadForm(request.POST or None, request.FILES or None, initial={"name": request.GET.get("name", "")})
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > settings.DATASET_MAX_BYTES:
            form.add_error("file", f"The file is {upload.size:,} bytes; the limit is {settings.DATASET_MAX_BYTES:,}.")
        else:
            content = upload.read()
            try:
                preview_dataset_file(
                    file_name=upload.name or "upload",
                    content=content,
                    max_bytes=settings.DATASET_MAX_BYTES,
                    delimiter=form.cleaned_data["delimiter"],
                )
            except DatasetFileError as error:
                form.add_error("file", [str(problem) for problem in error.problems])
            else:
                token = upload_stage(
                    team_id=request.team.pk,
                    user_id=_user_id(request),
                    file_name=upload.name or "upload",
                    dataset_name=form.cleaned_data["name"],
                    delimiter=form.cleaned_data["delimiter"],
                    content=content,
                )
                return HttpResponseRedirect(reverse("ui:dataset_upload_map", args=[request.team.slug, token]))
    return page(request, "ui/datasets/upload.html", {"form": form})


@team_page
def dataset_upload_map(request: TeamRequest, token: str) -> HttpResponse:
    """Step two: the first rows, the column mapping and split settings; every row is checked on import and
    a refused file is listed row by row with nothing saved."""
    require_write(request)
    try:
        staged = upload_staged(token=token, team_id=request.team.pk, user_id=_user_id(request))
    except NotFoundError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(reverse("ui:dataset_upload", args=[request.team.slug]))
    # Step one read it with this delimiter already, so it reads again.
    preview = preview_dataset_file(
        file_name=staged.file_name,
        content=staged.content,
        max_bytes=settings.DATASET_MAX_BYTES,
        delimiter=staged.delimiter,
    )
    form = DatasetMappingForm(request.POST or None, preview=preview)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            result = dataset_version_import(
                team=request.team,
                dataset_name=staged.dataset_name,
                file_name=staged.file_name,
                content=staged.content,
                options=form.import_options(
                    delimiter=staged.delimiter,
                    max_bytes=settings.DATASET_MAX_BYTES,
                    max_rows=settings.DATASET_MAX_ROWS,
                ),
                split_settings=form.split_settings(),
                actor=request.actor,
            )
        except DatasetFileError as error:
            problems = [str(problem) for problem in error.problems]
            form.add_error(
                None, "Nothing was saved: the file has the problems listed below. Fix the mapping or the file."
            )
        except (ValidationError, PromptOptError) as error:
            add_service_error(form, error)
        else:
            upload_discard(token=token)
            version = result.version
            if result.dropped_duplicates:
                messages.warning(request, f"Dropped {len(result.dropped_duplicates)} duplicate rows.")
            if result.created:
                messages.success(request, f"Imported {version.row_count} rows as version {version.number}.")
            else:
                messages.info(request, f"Nothing new: the file is identical to version {version.number}.")
            return HttpResponseRedirect(
                reverse("ui:dataset_version", args=[request.team.slug, version.dataset.slug, version.number])
            )
    context = {"staged": staged, "preview": preview, "form": form, "problems": problems}
    return page(request, "ui/datasets/map.html", context)


@team_page
def dataset_detail(request: TeamRequest, dataset: str) -> HttpResponse:
    """A dataset's latest version (its versions are listed there)."""
    found = dataset_get(actor=request.actor, team=request.team, slug=dataset)
    latest = dataset_version_latest(dataset=found)
    if latest is None:
        return page(request, "ui/datasets/empty.html", {"dataset": found})
    return HttpResponseRedirect(reverse("ui:dataset_version", args=[request.team.slug, found.slug, latest.number]))


@team_page
def dataset_version_detail(request: TeamRequest, dataset: str, number: int) -> HttpResponse:
    found = dataset_get(actor=request.actor, team=request.team, slug=dataset)
    version = DatasetVersion.objects.filter(dataset=found, number=number).select_related("created_by").first()
    if version is None:
        raise Http404(f"dataset {found.slug!r} has no version {number}")
    split_value = request.GET.get("split", "")
    split = Split(split_value) if split_value in {s.value for s in Split} else None
    query = request.GET.get("q", "").strip()[:200]
    examples = example_list(version=version, split=split).order_by("position")
    if query:
        # Inputs are JSON; searching their text form finds a word in any input field.
        examples = examples.filter(Q(expected_output__icontains=query) | Q(inputs__icontains=query))
    context = {
        "dataset": found,
        "version": version,
        "versions": DatasetVersion.objects.filter(dataset=found).order_by("-number"),
        "examples": paginate(request, examples),
        "split": split.value if split else "",
        "splits": [s.value for s in Split],
        "query": query,
    }
    return page(request, "ui/datasets/version.html", context)
