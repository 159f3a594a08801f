"""The admin for prompts, versions, labels and datasets: scoping, immutability, writes through services."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.actors import Actor
from accounts.models import Role
from prompts.content import PromptContent
from prompts.models import (
    Dataset,
    Example,
    OutputType,
    Prompt,
    PromptLabel,
    PromptLabelMove,
    PromptVersion,
    VersionSource,
)
from prompts.services import label_move, prompt_create, version_create
from tests.factories import SYSTEM_ACTOR, DatasetVersionFactory, ExampleFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _graph(team, user):
    """A prompt with two versions and a label, and a dataset version with examples, all of one team."""
    actor = Actor.for_user(user) if user is not None else SYSTEM_ACTOR
    prompt = prompt_create(
        team=team, name="Sentiment", actor=actor, first_version=PromptContent(template="Review: {{text}}")
    )
    v1 = prompt.versions.get()
    v2 = version_create(prompt=prompt, draft=PromptContent(template="Text: {{text}}"), actor=actor)
    label = label_move(prompt=prompt, name="production", version=v1, actor=actor)
    dataset_version = DatasetVersionFactory(dataset__team=team, dataset__name=f"Reviews of {team.slug}")
    example = ExampleFactory(version=dataset_version, position=0)
    return {
        "prompt": prompt,
        "promptversion": v2,
        "promptlabel": label,
        "promptlabelmove": label.moves.get(),
        "dataset": dataset_version.dataset,
        "datasetversion": dataset_version,
        "example": example,
        "v1": v1,
    }


@pytest.fixture
def own(team, owner):
    return _graph(team, owner)


@pytest.fixture
def foreign(other_team):
    return _graph(other_team, None)


MODELS = ["prompt", "promptversion", "promptlabel", "promptlabelmove", "dataset", "datasetversion", "example"]
ADDABLE = {"prompt", "promptversion", "promptlabel", "dataset"}


@pytest.mark.parametrize("model_name", MODELS)
def test_it_renders_every_prompts_admin_page(client, signed_in, own, model_name):
    obj = own[model_name]

    changelist = client.get(reverse(f"admin:prompts_{model_name}_changelist"))
    change = client.get(reverse(f"admin:prompts_{model_name}_change", args=[obj.pk]))
    add = client.get(reverse(f"admin:prompts_{model_name}_add"))

    assert (changelist.status_code, change.status_code) == (200, 200)
    assert obj.pk in [row.pk for row in changelist.context["cl"].result_list]
    assert add.status_code == (200 if model_name in ADDABLE else 403)


@pytest.mark.parametrize("model_name", MODELS)
def test_it_hides_other_teams_objects_from_team_staff(client, staff_editor, own, foreign, model_name):
    client.force_login(staff_editor)

    changelist = client.get(reverse(f"admin:prompts_{model_name}_changelist"))
    change = client.get(reverse(f"admin:prompts_{model_name}_change", args=[foreign[model_name].pk]))

    listed = [row.pk for row in changelist.context["cl"].result_list]
    assert own[model_name].pk in listed
    assert foreign[model_name].pk not in listed
    assert change.status_code == 302
    assert _messages(change)[0].endswith("exist. Perhaps it was deleted?")


@pytest.mark.parametrize("model_name", ["promptversion", "promptlabelmove", "datasetversion", "example"])
def test_it_shows_immutable_records_without_save_and_refuses_posts(client, superuser, own, model_name):
    client.force_login(superuser)
    url = reverse(f"admin:prompts_{model_name}_change", args=[own[model_name].pk])

    view = client.get(url)
    post = client.post(url, {})
    delete = client.get(reverse(f"admin:prompts_{model_name}_delete", args=[own[model_name].pk]))

    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert 'name="_continue"' not in view.content.decode()
    assert (post.status_code, delete.status_code) == (403, 403)


def test_it_lets_a_viewer_look_but_not_add(client, staff_viewer, own):
    client.force_login(staff_viewer)

    view = client.get(reverse("admin:prompts_prompt_change", args=[own["prompt"].pk]))
    add = client.get(reverse("admin:prompts_prompt_add"))
    add_version = client.post(reverse("admin:prompts_promptversion_add"), {"prompt": own["prompt"].pk})

    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert (add.status_code, add_version.status_code) == (403, 403)


def test_it_creates_a_prompt_with_version_one_through_the_service(client, staff_editor, team):
    client.force_login(staff_editor)

    response = client.post(
        reverse("admin:prompts_prompt_add"),
        {
            "team": team.pk,
            "name": "Ticket triage",
            "slug": "",
            "description": "Routes tickets",
            "template": "Ticket: {{body}}",
            "system_instruction": "Answer with one word.",
            "output_choices": "billing, bug , , other",
        },
    )

    prompt = Prompt.objects.get(name="Ticket triage")
    version = prompt.versions.get()
    assert response.status_code == 302
    assert (prompt.team, prompt.slug, prompt.created_by) == (team, "ticket-triage", staff_editor)
    assert (version.number, version.template, version.system_instruction) == (
        1,
        "Ticket: {{body}}",
        "Answer with one word.",
    )
    assert (version.output_type, version.output_choices) == (OutputType.CHOICE, ["billing", "bug", "other"])
    assert version.commit_message == "Initial version"
    assert version.content_hash == version.compute_content_hash()


def test_it_shows_an_invalid_first_version_on_the_form_and_creates_nothing(client, staff_editor, team):
    client.force_login(staff_editor)

    response = client.post(
        reverse("admin:prompts_prompt_add"),
        {"team": team.pk, "name": "Broken", "slug": "", "description": "", "template": "Hi {{ user.name }}"},
    )

    assert response.status_code == 200
    assert "is not a placeholder" in response.context["adminform"].form.errors["template"][0]
    assert response.context["adminform"].form["template"].value() == "Hi {{ user.name }}"
    assert not Prompt.objects.filter(name="Broken").exists()


def test_it_offers_only_writable_teams_for_a_new_prompt(client, staff_editor, team, other_team):
    MembershipFactory(team=other_team, user=staff_editor, role=Role.VIEWER)
    client.force_login(staff_editor)

    response = client.get(reverse("admin:prompts_prompt_add"))
    refused = client.post(
        reverse("admin:prompts_prompt_add"),
        {"team": other_team.pk, "name": "Sneaky", "slug": "", "description": "", "template": "{{x}}"},
    )

    assert list(response.context["adminform"].form.fields["team"].queryset) == [team]
    assert "team" in refused.context["adminform"].form.errors
    assert not Prompt.objects.filter(name="Sneaky").exists()


def test_it_updates_a_prompts_description_through_the_service(client, staff_editor, own):
    client.force_login(staff_editor)
    prompt = own["prompt"]
    management = {
        f"{prefix}-{field}": 0
        for prefix in ("versions", "labels", "label_moves")
        for field in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")
    }

    response = client.post(
        reverse("admin:prompts_prompt_change", args=[prompt.pk]),
        {"name": "Sentiment v2", "description": "Movie reviews", "archived": "on", **management},
    )

    prompt.refresh_from_db()
    assert response.status_code == 302
    assert (prompt.name, prompt.description, prompt.archived, prompt.slug) == (
        "Sentiment v2",
        "Movie reviews",
        True,
        "sentiment",
    )


def test_it_adds_a_version_after_the_latest_through_the_service(client, staff_editor, own):
    client.force_login(staff_editor)
    prompt = own["prompt"]

    response = client.post(
        reverse("admin:prompts_promptversion_add"),
        {
            "prompt": prompt.pk,
            "template": "Classify: {{text}}",
            "system_instruction": "",
            "demonstrations": '[{"inputs": {"text": "great"}, "output": "positive"}]',
            "output_type": "choice",
            "output_choices": "positive, negative",
            "output_schema": "null",
            "provider": "local",
            "model_name": "",
            "temperature": "0.0",
            "max_tokens": "16",
            "layout": "chat",
            "commit_message": "Add a demonstration",
        },
    )

    version = prompt.versions.order_by("-number").first()
    assert response.status_code == 302
    assert (version.number, version.parent, version.created_by) == (3, own["promptversion"], staff_editor)
    assert version.demonstrations == [{"inputs": {"text": "great"}, "output": "positive"}]
    assert (version.output_choices, version.max_tokens, version.source) == (
        ["positive", "negative"],
        16,
        VersionSource.MANUAL,
    )


def test_it_refuses_a_version_identical_to_an_earlier_one(client, staff_editor, own):
    client.force_login(staff_editor)
    prompt = own["prompt"]

    response = client.post(
        reverse("admin:prompts_promptversion_add"),
        {
            "prompt": prompt.pk,
            "template": "Review: {{text}}",
            "demonstrations": "[]",
            "output_type": "text",
            "output_schema": "null",
            "provider": "local",
            "temperature": "0.0",
            "max_tokens": "256",
            "layout": "chat",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "nothing changed: this content is identical to version 1"
    ]
    assert prompt.versions.count() == 2


def test_it_prefills_a_new_version_from_an_existing_one(client, staff_editor, own):
    client.force_login(staff_editor)
    source = own["v1"]

    response = client.get(reverse("admin:prompts_promptversion_add") + f"?from_version={source.pk}")

    form = response.context["adminform"].form
    assert (form["template"].value(), form["prompt"].value(), form["parent"].value()) == (
        "Review: {{text}}",
        source.prompt_id,
        source.pk,
    )


def _move_label(client, version_ids, label_name="production"):
    return client.post(
        reverse("admin:prompts_promptversion_changelist"),
        {"action": "move_label_here", "_selected_action": version_ids, "label_name": label_name},
    )


def test_it_moves_a_label_to_the_selected_version_and_records_the_move(client, staff_editor, own):
    client.force_login(staff_editor)
    v1, v2 = own["v1"], own["promptversion"]

    response = _move_label(client, [v2.pk])

    label = PromptLabel.objects.get(prompt=own["prompt"], name="production")
    move = label.moves.order_by("-id").first()
    assert response.status_code == 302
    assert label.version == v2
    assert (move.from_version, move.to_version, move.moved_by) == (v1, v2, staff_editor)
    assert "Sentiment:production now points at version 2." in _messages(response)


def test_it_creates_a_new_label_with_the_move_action(client, staff_editor, own):
    client.force_login(staff_editor)

    _move_label(client, [own["v1"].pk], label_name="staging")

    label = PromptLabel.objects.get(prompt=own["prompt"], name="staging")
    assert label.version == own["v1"]
    assert list(label.moves.values_list("from_version", "to_version")) == [(None, own["v1"].pk)]


@pytest.mark.parametrize("select_across", [False, True], ids=["two selected", "all selected"])
def test_it_asks_for_exactly_one_version_to_move_a_label_to(client, staff_editor, own, select_across):
    client.force_login(staff_editor)
    moves_before = PromptLabelMove.objects.count()

    response = client.post(
        reverse("admin:prompts_promptversion_changelist"),
        {
            "action": "move_label_here",
            # "Select all" still posts the ticked rows; select_across widens the action to the whole list.
            "_selected_action": [own["v1"].pk] if select_across else [own["v1"].pk, own["promptversion"].pk],
            "select_across": "1" if select_across else "0",
            "label_name": "staging",
        },
    )

    assert _messages(response) == ["Select exactly one version to move a label to."]
    assert PromptLabelMove.objects.count() == moves_before
    assert not PromptLabel.objects.filter(name="staging").exists()


def test_it_rejects_a_bad_label_name_in_the_move_action(client, staff_editor, own):
    client.force_login(staff_editor)

    response = _move_label(client, [own["v1"].pk], label_name="prod uction!")

    assert _messages(response) == ["“prod uction!” is not a label name: use letters, digits, - and _."]
    assert PromptLabel.objects.filter(prompt=own["prompt"]).count() == 1


def test_it_moves_a_label_when_its_version_is_changed(client, staff_editor, own):
    client.force_login(staff_editor)
    label = own["promptlabel"]
    management = {f"moves-{field}": 0 for field in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")}

    response = client.post(
        reverse("admin:prompts_promptlabel_change", args=[label.pk]),
        {"version": own["promptversion"].pk, **management},
    )

    label.refresh_from_db()
    assert response.status_code == 302
    assert label.version == own["promptversion"]
    assert list(label.moves.order_by("id").values_list("to_version", flat=True)) == [
        own["v1"].pk,
        own["promptversion"].pk,
    ]


def test_it_refuses_a_label_pointing_at_another_prompts_version(client, staff_editor, own, team):
    other_prompt = prompt_create(
        team=team, name="Other", actor=SYSTEM_ACTOR, first_version=PromptContent(template="{{a}}")
    )
    client.force_login(staff_editor)

    response = client.post(
        reverse("admin:prompts_promptlabel_add"),
        {"prompt": own["prompt"].pk, "name": "staging", "version": other_prompt.versions.get().pk},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["version"] == ["must be a version of the label's prompt"]
    assert not PromptLabel.objects.filter(name="staging").exists()


def test_it_limits_version_autocomplete_to_writable_teams(client, staff_editor, own, foreign, other_team):
    MembershipFactory(team=other_team, user=staff_editor, role=Role.VIEWER)
    client.force_login(staff_editor)

    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "prompts", "model_name": "promptlabel", "field_name": "version", "term": "Sentiment"},
    )

    ids = sorted(int(result["id"]) for result in response.json()["results"])
    assert ids == sorted([own["v1"].pk, own["promptversion"].pk])


def test_it_creates_a_dataset_through_the_service(client, staff_editor, team):
    client.force_login(staff_editor)

    response = client.post(
        reverse("admin:prompts_dataset_add"),
        {"team": team.pk, "name": "Support tickets", "slug": "", "description": ""},
    )

    dataset = Dataset.objects.get(name="Support tickets")
    assert response.status_code == 302
    assert (dataset.team, dataset.slug, dataset.created_by) == (team, "support-tickets", staff_editor)


def test_it_shows_only_the_first_examples_of_a_big_version_and_links_to_all(client, superuser, team):
    version = DatasetVersionFactory(dataset__team=team, row_count=60)
    Example.objects.bulk_create(
        Example(version=version, position=n, inputs={"text": f"row {n}"}, expected_output="x", split="train")
        for n in range(60)
    )
    client.force_login(superuser)

    response = client.get(reverse("admin:prompts_datasetversion_change", args=[version.pk]))
    browse = client.get(reverse("admin:prompts_example_changelist"), {"version__id__exact": version.pk})

    formset = response.context["inline_admin_formsets"][0].formset
    page = response.content.decode()
    assert [form.instance.position for form in formset.forms] == list(range(50))
    assert "Showing the first 50 of 60 examples" in page
    assert f"?version__id__exact={version.pk}" in page
    assert browse.status_code == 200
    assert browse.context["cl"].result_count == 60


def test_it_lets_only_superusers_delete_a_prompt_with_its_versions(client, superuser, staff_editor, team):
    # A prompt without labels: PromptLabel.version is PROTECT, which blocks deleting a labelled prompt at all.
    prompt = prompt_create(team=team, name="Scratch", actor=SYSTEM_ACTOR, first_version=PromptContent(template="{{a}}"))
    client.force_login(staff_editor)
    staff_delete = client.get(reverse("admin:prompts_prompt_delete", args=[prompt.pk]))
    client.force_login(superuser)

    response = client.post(reverse("admin:prompts_prompt_delete", args=[prompt.pk]), {"post": "yes"})

    assert staff_delete.status_code == 403
    assert response.status_code == 302
    assert not Prompt.objects.filter(pk=prompt.pk).exists()
    assert not PromptVersion.objects.filter(prompt_id=prompt.pk).exists()


def test_it_returns_prompt_autocomplete_results_in_a_stable_order(client, superuser, team):
    import warnings

    from django.core.paginator import UnorderedObjectListWarning

    from tests.factories import PromptFactory

    PromptFactory(team=team, name="Zeta"), PromptFactory(team=team, name="Alpha")
    client.force_login(superuser)
    params = {"app_label": "prompts", "model_name": "promptlabel", "field_name": "prompt", "term": ""}

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnorderedObjectListWarning)  # paginating an unordered queryset
        response = client.get(reverse("admin:autocomplete"), params)

    names = [result["text"] for result in response.json()["results"]]
    assert names == sorted(names) and {"Alpha", "Zeta"} <= set(names)


def test_it_summarises_a_big_cascade_and_deletes_a_dataset_through_the_service(client, superuser, team):
    from prompts.models import Dataset, Example

    version = DatasetVersionFactory(dataset__team=team)
    ExampleFactory.create_batch(60, version=version)
    dataset = version.dataset
    client.force_login(superuser)
    url = reverse("admin:prompts_dataset_delete", args=[dataset.pk])

    confirmation = client.get(url).content.decode()
    response = client.post(url, {"post": "yes"})

    assert "60 examples" in confirmation
    assert f"{version} #59" not in confirmation  # rows are counted, not listed one by one
    assert response.status_code == 302
    assert (Dataset.objects.filter(pk=dataset.pk).exists(), Example.objects.count()) == (False, 0)


def test_it_offers_new_version_and_label_buttons_on_a_prompt_page(client, staff_editor, own):
    client.force_login(staff_editor)
    prompt = own["prompt"]
    latest = prompt.versions.order_by("-number").first()

    page = client.get(reverse("admin:prompts_prompt_change", args=[prompt.pk])).content.decode()

    assert f"?from_version={latest.pk}" in page
    assert f"?prompt={prompt.pk}&amp;version={latest.pk}" in page


def test_it_lists_versions_with_their_labels_in_a_constant_number_of_queries(client, staff_editor, own):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from prompts.services import label_move, version_create

    client.force_login(staff_editor)
    url = reverse("admin:prompts_promptversion_changelist")

    def queries_for_list_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries_for_list_page()
    for number in range(6):
        version = version_create(
            prompt=own["prompt"], draft=PromptContent(template=f"V{number}: {{{{text}}}}"), actor=SYSTEM_ACTOR
        )
        label_move(prompt=own["prompt"], name=f"label-{number}", version=version, actor=SYSTEM_ACTOR)
    many = queries_for_list_page()

    assert many == few
    assert "label-5" in client.get(url).content.decode()


def test_it_finds_examples_by_the_text_of_their_inputs(client, staff_editor, own):
    ExampleFactory(version=own["datasetversion"], position=1, inputs={"text": "charged twice for shipping"})
    client.force_login(staff_editor)

    page = client.get(reverse("admin:prompts_example_changelist"), {"q": "charged twice"})

    assert [str(e.inputs["text"]) for e in page.context["cl"].result_list] == ["charged twice for shipping"]
