"""Every case of the bad-input corpus gives its clear error, in bounded time, and writes nothing."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from tests.bad_inputs.corpus import CASES, BadInput
from tests.bounded_time import within_seconds

# Every table a refused input could have written to, the task queue included.
WATCHED_APPS = ("accounts", "prompts", "workflows", "django_q")


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for label in WATCHED_APPS
        for model in apps.get_app_config(label).get_models()
    }


@pytest.fixture
def base(team, editor):
    """One prompt and one dataset with every split, so evaluate and optimize get past their lookups."""
    prompt_create(
        team=team, name="Base", actor=Actor.for_user(editor), first_version=PromptContent(template="Review: {{text}}")
    )
    splits = ["train"] * 4 + ["validation"] * 4 + ["test"] * 4
    rows = "\n".join(f"review {i},{'yes' if i % 2 else 'no'},{split}" for i, split in enumerate(splits))
    dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=("text,target,split\n" + rows + "\n").encode(),
        options=ImportOptions(),
        actor=Actor.for_user(editor),
    )


def _command_arguments(case: BadInput, tmp_path) -> list[str]:
    arguments: list[str]
    if case.surface == "import_dataset":
        path = tmp_path / case.file_name
        path.write_bytes(case.file() if case.file else b"")
        arguments = ["import_dataset", str(path), "--team", "acme"]
        if "--name" not in case.args:
            arguments += ["--name", "Corpus"]
    elif case.surface == "create_prompt":
        template = tmp_path / "template.txt"
        template.write_bytes(case.file() if case.file else b"Review: {{text}}")
        arguments = ["create_prompt", "--team", "acme", "--template-file", str(template)]
        if "--name" not in case.args:
            arguments += ["--name", "Corpus"]
        for number, (option, content) in enumerate(case.option_files):
            path = tmp_path / f"option-{number}.txt"
            path.write_bytes(content)
            arguments += [option, str(path)]
    else:
        arguments = [case.surface, "--team", "acme", "--prompt", "base", "--dataset", "reviews"]
    return arguments + list(case.args)


def _run_command(case: BadInput, tmp_path) -> str:
    arguments = _command_arguments(case, tmp_path)
    with pytest.raises(CommandError) as caught:
        within_seconds(lambda: call_command(*arguments, stdout=StringIO(), stderr=StringIO()))
    return str(caught.value)


VERSION_FORM_DEFAULTS = {
    "template": "Review: {{text}}",
    "system_instruction": "",
    "demonstrations": "[]",
    "output_type": "text",
    "output_choices": "",
    "output_schema": "null",
    "provider": "local",
    "model_name": "",
    "temperature": "0.0",
    "max_tokens": "16",
    "layout": "chat",
    "commit_message": "from the corpus",
}


def _form_errors(response) -> str:
    context = response.context
    form = context["adminform"].form if "adminform" in context else context["form"]
    return "\n".join(f"{field}: {message}" for field, messages in form.errors.items() for message in messages)


def _run_admin(case: BadInput, client, team) -> str:
    if case.surface == "admin_version":
        prompt = team.prompts.get(slug="base")
        data = {"prompt": prompt.pk, **VERSION_FORM_DEFAULTS, **case.form}
        response = within_seconds(lambda: client.post(reverse("admin:prompts_promptversion_add"), data))
    else:
        upload = SimpleUploadedFile(case.file_name, case.file() if case.file else b"")
        data = {"team": team.pk, "name": "Corpus", "file": upload, "target_field": "target", "seed": 0}
        response = within_seconds(lambda: client.post(reverse("admin:prompts_dataset_import"), data))
    # A refused form is shown again with its errors: 200, not a redirect and never a 500.
    assert response.status_code == 200
    return _form_errors(response)


CASE_IDS = [f"{case.surface}: {case.name}" for case in CASES]


def test_the_corpus_is_large_and_its_cases_are_distinct():
    assert len(CASES) >= 40
    assert len(set(CASE_IDS)) == len(CASE_IDS)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_refuses_each_bad_input_clearly_and_writes_nothing(case, base, team, staff_editor, client, tmp_path):
    before = row_counts()

    if case.surface.startswith("admin_"):
        client.force_login(staff_editor)
        message = _run_admin(case, client, team)
    else:
        message = _run_command(case, tmp_path)

    assert re.search(case.error, message, re.DOTALL), f"expected /{case.error}/ in:\n{message[:2000]}"
    assert row_counts() == before
