"""Prompt versions, labels and dataset imports through the services, with the database's guarantees."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction

from accounts.actors import Actor
from accounts.models import ApiKeyScope
from accounts.services import api_key_create
from promptopt.errors import ConflictError, PermissionDeniedError
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.models import (
    Dataset,
    DatasetVersion,
    Example,
    ImmutableRecordError,
    OutputType,
    PromptLabel,
    PromptLabelMove,
    PromptVersion,
    VersionSource,
    content_hash,
)
from prompts.services import (
    LABEL_ABSENT,
    SplitSettings,
    content_from_input,
    dataset_delete,
    dataset_update,
    dataset_version_import,
    label_delete,
    label_move,
    prompt_create,
    prompt_delete,
    version_create,
)
from tests.factories import PromptFactory

CSV = b"text,label\nI love it,positive\nTerrible,negative\nGreat value,positive\nBroke at once,negative\n"


@pytest.fixture
def prompt(team, editor):
    return prompt_create(
        team=team,
        name="Sentiment",
        actor=Actor.for_user(editor),
        first_version=PromptContent(template="Review: {{text}}\nSentiment:"),
    )


def test_it_creates_a_prompt_with_version_one(prompt, editor):
    version = prompt.versions.get()
    assert (prompt.slug, version.number, version.parent, version.created_by) == ("sentiment", 1, None, editor)
    assert version.content_hash == version.compute_content_hash()
    assert version.source == VersionSource.MANUAL


def test_it_numbers_versions_in_sequence_and_chains_parents(prompt, editor):
    v1 = prompt.versions.get()
    v2 = version_create(prompt=prompt, draft=PromptContent(template="Text: {{text}}"), actor=Actor.for_user(editor))
    v3 = version_create(prompt=prompt, draft=PromptContent(template="T: {{text}}"), actor=Actor.for_user(editor))

    assert [v2.number, v3.number] == [2, 3]
    assert (v2.parent, v3.parent) == (v1, v2)


def test_it_refuses_a_version_identical_to_an_existing_one(prompt, editor):
    with pytest.raises(ValidationError, match="identical to version 1"):
        version_create(
            prompt=prompt, draft=PromptContent(template="Review: {{text}}\nSentiment:"), actor=Actor.for_user(editor)
        )
    assert prompt.versions.count() == 1


@pytest.mark.parametrize(
    ("draft", "field", "message"),
    [
        (PromptContent(template="Hi {{ user.name }}"), "template", "is not a placeholder"),
        (PromptContent(template="{% if x %}{{x}}{% endif %}"), "template", "is not a placeholder"),
        (PromptContent(template="  "), "template", "must not be empty"),
        (PromptContent(template="Review: {{text"), "template", "'{{text' is not a placeholder"),
        (
            PromptContent(template="{{text}}", demonstrations=(({"other": "x"}, "y"),)),
            "demonstrations",
            "demonstration 1: missing input 'text'",
        ),
        (
            PromptContent(template="{{text}}", output_type=OutputType.CHOICE, output_choices=["only"]),
            "output_choices",
            "at least two choices",
        ),
        (
            PromptContent(template="{{text}}", output_type=OutputType.JSON, output_schema={"type": "nonsense"}),
            "output_schema",
            "not a valid JSON Schema",
        ),
        (PromptContent(template="{{text}}", temperature=3.0), "temperature", "must be between 0 and 2"),
        (PromptContent(template="{{text}}", stop=("",)), "stop", "must be 1 to 32 characters"),
        (PromptContent(template="{{text}}", stop=("a", "b", "c", "d", "e")), "stop", "the limit is 4"),
    ],
)
def test_it_names_the_field_of_invalid_version_content(prompt, editor, draft, field, message):
    with pytest.raises(ValidationError) as caught:
        version_create(prompt=prompt, draft=draft, actor=Actor.for_user(editor))

    assert any(message in text for text in caught.value.message_dict[field])
    assert prompt.versions.count() == 1


def test_it_accepts_literal_braces_such_as_json_examples(prompt, editor):
    template = 'Answer as JSON like {"label": {"name": "x"}} for: {{text}}'

    version = version_create(prompt=prompt, draft=PromptContent(template=template), actor=Actor.for_user(editor))

    assert version.template == template


def test_it_refuses_version_changes_in_python_and_in_the_database(prompt):
    version = prompt.versions.get()
    version.template = "changed {{text}}"
    with pytest.raises(ImmutableRecordError):
        version.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        PromptVersion.objects.filter(pk=version.pk).update(template="changed {{text}}")

    assert PromptVersion.objects.get(pk=version.pk).template == "Review: {{text}}\nSentiment:"


def test_it_refuses_versions_from_viewers(prompt, viewer):
    with pytest.raises(PermissionDeniedError):
        version_create(prompt=prompt, draft=PromptContent(template="New {{text}}"), actor=Actor.for_user(viewer))


def test_it_moves_a_label_and_records_each_move(prompt, editor, owner):
    v1 = prompt.versions.get()
    v2 = version_create(prompt=prompt, draft=PromptContent(template="Text: {{text}}"), actor=Actor.for_user(editor))

    label_move(prompt=prompt, name="production", version=v1, actor=Actor.for_user(editor))
    label = label_move(prompt=prompt, name="production", version=v2, actor=Actor.for_user(owner))
    label_move(prompt=prompt, name="production", version=v2, actor=Actor.for_user(owner))  # no-op, no history line

    assert PromptLabel.objects.get(pk=label.pk).version == v2
    moves = [(m.from_version, m.to_version, m.moved_by) for m in PromptLabelMove.objects.order_by("id")]
    assert moves == [(None, v1, editor), (v1, v2, owner)]


def test_it_refuses_a_label_pointing_at_another_prompts_version(prompt, editor, team):
    stranger = PromptFactory(team=team)
    foreign_version = version_create(
        prompt=stranger, draft=PromptContent(template="{{x}}"), actor=Actor.for_user(editor)
    )

    with pytest.raises(ValidationError, match="another prompt"):
        label_move(prompt=prompt, name="production", version=foreign_version, actor=Actor.for_user(editor))


def test_it_keeps_one_label_per_name_in_the_database(prompt, editor):
    version = prompt.versions.get()
    label_move(prompt=prompt, name="staging", version=version, actor=Actor.for_user(editor))

    with pytest.raises(IntegrityError):
        PromptLabel.objects.create(prompt=prompt, name="staging", version=version)


def _import(team, user, content=CSV, name="Reviews", seed=0, **option_values):
    options = ImportOptions(target_field="label", **option_values)
    return dataset_version_import(
        team=team,
        dataset_name=name,
        file_name="reviews.csv",
        content=content,
        options=options,
        split_settings=SplitSettings(seed=seed),
        actor=Actor.for_user(user),
    )


def test_it_imports_a_csv_as_a_dataset_version_with_examples(team, editor):
    result = _import(team, editor)

    version = result.version
    assert result.created
    assert (version.dataset.slug, version.number, version.row_count) == ("reviews", 1, 4)
    assert version.input_fields == ["text"]
    examples = list(version.examples.order_by("position"))
    assert [(e.inputs, e.expected_output) for e in examples[:2]] == [
        ({"text": "I love it"}, "positive"),
        ({"text": "Terrible"}, "negative"),
    ]
    assert sum(version.split_counts.values()) == 4
    assert {e.split for e in examples} <= {"train", "validation", "test"}


def test_it_returns_the_existing_version_for_identical_content(team, editor):
    first = _import(team, editor)
    again = _import(team, editor)

    assert (again.created, again.version.pk) == (False, first.version.pk)
    assert DatasetVersion.objects.count() == 1


def test_it_assigns_the_same_splits_for_the_same_seed_whatever_the_row_order(team, editor):
    rows = [f"review number {i},{'positive' if i % 2 else 'negative'}" for i in range(40)]
    forward = _import(team, editor, content=("text,label\n" + "\n".join(rows)).encode(), name="A")
    backward = _import(team, editor, content=("text,label\n" + "\n".join(reversed(rows))).encode(), name="B")
    reseeded = _import(team, editor, content=("text,label\n" + "\n".join(rows)).encode(), name="C", seed=7)

    def split_by_text(version):
        return {e.inputs["text"]: e.split for e in version.examples.all()}

    assert split_by_text(forward.version) == split_by_text(backward.version)
    assert split_by_text(forward.version) != split_by_text(reseeded.version)
    assert forward.version.split_counts == {"train": 19, "validation": 12, "test": 9}


def test_it_honours_an_uploaded_split_column(team, editor):
    content = b"text,label,split\na,x,test\nb,y,train\nc,z,dev\n"

    version = _import(team, editor, content=content).version

    assert {e.inputs["text"]: e.split for e in version.examples.all()} == {
        "a": "test",
        "b": "train",
        "c": "validation",
    }


def test_it_writes_nothing_when_any_row_is_bad(team, editor):
    content = b"text,label\ngood row,positive\n,negative\nanother,\n"

    with pytest.raises(Exception) as caught:
        _import(team, editor, content=content)

    message = str(caught.value)
    assert "line 3" in message and "'text'" in message
    assert "line 4" in message and "'label'" in message
    assert (Dataset.objects.count(), DatasetVersion.objects.count(), Example.objects.count()) == (0, 0, 0)


def test_it_refuses_updates_to_examples_in_the_database(team, editor):
    version = _import(team, editor).version

    with pytest.raises(DatabaseError), transaction.atomic():
        Example.objects.filter(version=version).update(expected_output="tampered")
    assert not Example.objects.filter(expected_output="tampered").exists()


def test_it_deletes_a_label_only_for_writers(prompt, editor, viewer):
    label = label_move(prompt=prompt, name="staging", version=prompt.versions.get(), actor=Actor.for_user(editor))
    with pytest.raises(PermissionDeniedError):
        label_delete(label=label, actor=Actor.for_user(viewer))

    label_delete(label=label, actor=Actor.for_user(editor))

    assert not PromptLabel.objects.filter(prompt=prompt).exists()
    history = list(PromptLabelMove.objects.filter(prompt=prompt, label_name="staging").order_by("id"))
    assert [(m.from_version, m.to_version, m.moved_by) for m in history] == [
        (None, prompt.versions.get(), editor),
        (prompt.versions.get(), None, editor),
    ]


def test_it_updates_a_datasets_description_and_archive_flag(team, editor, viewer):
    dataset = _import(team, editor).version.dataset
    with pytest.raises(PermissionDeniedError):
        dataset_update(dataset=dataset, description="x", actor=Actor.for_user(viewer))

    updated = dataset_update(
        dataset=dataset, description="Product reviews", archived=True, actor=Actor.for_user(editor)
    )

    assert (updated.description, updated.archived, updated.slug) == ("Product reviews", True, "reviews")


def test_it_deletes_a_labelled_prompt_with_all_its_history(prompt, editor):
    label_move(prompt=prompt, name="production", version=prompt.versions.get(), actor=Actor.for_user(editor))

    prompt.delete()

    assert (PromptVersion.objects.count(), PromptLabel.objects.count(), PromptLabelMove.objects.count()) == (0, 0, 0)


def test_it_deletes_prompts_and_datasets_only_for_writers(prompt, team, editor, viewer):
    dataset = _import(team, editor).version.dataset
    with pytest.raises(PermissionDeniedError):
        prompt_delete(prompt=prompt, actor=Actor.for_user(viewer))
    with pytest.raises(PermissionDeniedError):
        dataset_delete(dataset=dataset, actor=Actor.for_user(viewer))

    prompt_delete(prompt=prompt, actor=Actor.for_user(editor))
    dataset_delete(dataset=dataset, actor=Actor.for_user(editor))

    assert (PromptVersion.objects.count(), DatasetVersion.objects.count(), Example.objects.count()) == (0, 0, 0)


def test_it_moves_a_label_only_from_the_version_the_caller_expects(prompt, editor):
    actor = Actor.for_user(editor)
    v1 = prompt.versions.get()
    v2 = version_create(prompt=prompt, draft=PromptContent(template="Text: {{text}}"), actor=actor)

    label_move(prompt=prompt, name="production", version=v1, actor=actor, expected_number=LABEL_ABSENT)
    with pytest.raises(ConflictError, match="label 'production' is on version 1 now, not on version 2"):
        label_move(prompt=prompt, name="production", version=v2, actor=actor, expected_number=2)
    moved = label_move(prompt=prompt, name="production", version=v2, actor=actor, expected_number=1)

    assert moved.version == v2
    assert [move.to_version.number for move in moved.moves] == [2, 1]


def test_it_records_the_api_key_that_acted(prompt, owner, team):
    key = api_key_create(team=team, name="ci", scope=ApiKeyScope.WRITE, actor=Actor.for_user(owner)).api_key

    version = version_create(prompt=prompt, draft=PromptContent(template="Key: {{text}}"), actor=Actor.for_api_key(key))

    assert (version.created_by, version.created_by_api_key) == (None, key)


def test_one_content_type_round_trips_through_a_saved_version(prompt, editor):
    content = PromptContent(
        template="Review: {{text}}\nSentiment:",
        system_instruction="Answer with one word.",
        demonstrations=(({"text": "Loved it."}, "positive"),),
        layout="completion",
        output_type="choice",
        output_choices=("positive", "negative"),
        max_tokens=4,
        stop=("\n",),
    )

    version = version_create(prompt=prompt, draft=content, actor=Actor.for_user(editor))

    assert version.prompt_content() == content
    assert PromptContent.from_dict(content.to_dict()).key == content.key
    assert version.content() == content.to_dict()


def test_stop_sequences_enter_the_content_hash_only_when_a_version_has_some(prompt, editor):
    # Versions saved before stops existed hash without the field, so an identical resave is still refused.
    plain = PromptContent(template="{{text}}")
    legacy = {name: value for name, value in plain.to_dict().items() if name != "stop"}
    assert content_hash(plain.to_dict()) == content_hash(legacy)
    assert plain.key != plain.edit(stop=("\n",)).key

    version_create(prompt=prompt, draft=plain.edit(stop=("\n",)), actor=Actor.for_user(editor))
    assert prompt.versions.count() == 2  # the same text with a stop is another version


def test_content_from_user_input_names_malformed_parts_instead_of_crashing():
    with pytest.raises(ValidationError) as caught:
        content_from_input({"template": "{{text}}", "demonstrations": [{"inputs": {"text": "x"}}]})

    assert "must be an object with exactly 'inputs' and 'output'" in caught.value.message_dict["demonstrations"][0]
