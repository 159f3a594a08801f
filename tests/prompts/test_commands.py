"""The prompts management commands as an operator uses them: import_dataset, create_prompt, bootstrap_demo."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Membership, Team
from prompts.management.commands.import_dataset import describe_dropped
from prompts.models import Dataset, DatasetVersion, Example, OutputType, Prompt, PromptLabel, PromptVersion

BENCHMARKS = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def reviews_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("review,label\nLoved it,positive\nHated it,negative\nSo good,positive\n", encoding="utf-8")
    return path


def test_it_imports_a_csv_and_reports_the_splits(team, reviews_csv):
    output = run("import_dataset", str(reviews_csv), "--team", "acme", "--name", "Reviews", "--target-field", "label")

    version = DatasetVersion.objects.get()
    assert "Imported 3 rows into acme/reviews version 1" in output
    assert version.input_fields == ["review"] and version.row_count == 3


def test_it_reports_an_identical_reimport_as_unchanged(team, reviews_csv):
    args = ("import_dataset", str(reviews_csv), "--team", "acme", "--name", "Reviews", "--target-field", "label")
    run(*args)

    assert "Unchanged" in run(*args)
    assert DatasetVersion.objects.count() == 1


def test_it_refuses_a_bad_file_naming_row_and_field_and_writes_nothing(team, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "a", "target": "x"}\n{"input": "b", "target": \n', encoding="utf-8")

    with pytest.raises(CommandError) as caught:
        run("import_dataset", str(path), "--team", "acme", "--name", "Bad")

    assert "nothing was written" in str(caught.value) and "line 2" in str(caught.value)
    assert (Dataset.objects.count(), Example.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "nope"], "--team: no team with slug 'nope'"),
        (["--team", "acme", "--split-ratios", "1,2"], "--split-ratios"),
    ],
)
def test_it_explains_bad_options(team, reviews_csv, args, message):
    with pytest.raises(CommandError, match=message):
        run("import_dataset", str(reviews_csv), "--name", "Reviews", "--target-field", "label", *args)


def test_it_drops_duplicate_rows_when_asked_and_lists_them(team, tmp_path):
    path = tmp_path / "dupes.csv"
    path.write_text("input,target\na,1\nb,2\na,1\nc,3\nb,2\n", encoding="utf-8")
    args = ("import_dataset", str(path), "--team", "acme", "--name", "Dupes")

    with pytest.raises(CommandError, match=r"line 4: duplicates line 2 \(pass --drop-duplicates"):
        run(*args)
    output = run(*args, "--drop-duplicates")

    lines = output.splitlines()
    assert lines[0].startswith("Imported 3 rows into acme/dupes version 1")
    assert lines[1] == "Dropped 2 duplicate rows: line 4 (same as line 2), line 6 (same as line 3)"
    version = DatasetVersion.objects.get()
    assert version.row_count == 3
    assert list(version.examples.order_by("position").values_list("expected_output", flat=True)) == ["1", "2", "3"]


def test_it_caps_the_list_of_dropped_rows():
    dropped = [(line, 1) for line in range(2, 15)]

    assert describe_dropped(dropped[:1]) == "Dropped 1 duplicate row: line 2 (same as line 1)"
    assert describe_dropped(dropped) == (
        "Dropped 13 duplicate rows: "
        + ", ".join(f"line {line} (same as line 1)" for line in range(2, 12))
        + ", … and 3 more"
    )


@pytest.mark.skipif(not (BENCHMARKS / "ape__sentiment.jsonl").exists(), reason="shared benchmarks not present")
def test_it_imports_a_shared_benchmark_file_as_is(team):
    output = run(
        "import_dataset",
        str(BENCHMARKS / "ape__sentiment.jsonl"),
        "--team",
        "acme",
        "--name",
        "APE sentiment",
        "--split-map",
        "induce=train+validation,execute=test",
    )

    version = DatasetVersion.objects.get()
    assert "Imported 1267 rows" in output
    assert version.split_counts == {"train": 651, "validation": 516, "test": 100}
    first = version.examples.get(position=0)
    assert first.inputs == {"input": "unpretentious, charming, quirky, original"}
    assert (first.expected_output, first.accepted_answers) == ("positive", ["positive"])


def test_it_creates_a_prompt_with_choices_from_files(team, tmp_path):
    template, system = tmp_path / "t.txt", tmp_path / "s.txt"
    template.write_text("Review: {{review}}\nSentiment:", encoding="utf-8")
    system.write_text("Classify the review.", encoding="utf-8")

    output = run(
        "create_prompt",
        "--team",
        "acme",
        "--name",
        "Sentiment",
        "--template-file",
        str(template),
        "--system-file",
        str(system),
        "--choices",
        "positive,negative",
    )

    version = PromptVersion.objects.get()
    assert "Created prompt acme/sentiment with version 1" in output
    assert (version.output_type, version.output_choices) == (OutputType.CHOICE, ["positive", "negative"])
    assert version.system_instruction == "Classify the review."


def test_it_refuses_a_template_with_a_malformed_placeholder(team, tmp_path):
    template = tmp_path / "t.txt"
    template.write_text("Hello {{ user.__class__ }}", encoding="utf-8")

    with pytest.raises(CommandError, match=r"template: .* is not a placeholder"):
        run("create_prompt", "--team", "acme", "--name", "Bad", "--template-file", str(template))
    assert Prompt.objects.count() == 0


def test_it_bootstraps_the_demo_once_and_reuses_it(db):
    first = run("bootstrap_demo")
    second = run("bootstrap_demo")

    assert "80 examples" in first and "already present" in second
    assert Team.objects.filter(slug="demo").count() == 1
    assert Membership.objects.get(team__slug="demo", user__username="demo").role == "owner"
    assert (Prompt.objects.count(), PromptVersion.objects.count(), DatasetVersion.objects.count()) == (1, 1, 1)
    assert PromptLabel.objects.get().name == "production"
    version = DatasetVersion.objects.get()
    assert version.split_counts == {"train": 36, "validation": 23, "test": 21}
    assert set(Example.objects.values_list("expected_output", flat=True)) == {
        "billing",
        "shipping",
        "returns",
        "account",
        "technical",
    }


def test_it_refuses_a_second_prompt_with_the_same_name(team, tmp_path):
    template = tmp_path / "t.txt"
    template.write_text("{{review}}", encoding="utf-8")
    args = ("create_prompt", "--team", "acme", "--name", "Sentiment", "--template-file", str(template))
    run(*args)

    with pytest.raises(CommandError, match="name: the team already has a prompt with the slug 'sentiment'"):
        run(*args)
    assert Prompt.objects.count() == 1


def test_it_explains_a_template_path_that_is_a_folder(team, tmp_path):
    with pytest.raises(CommandError, match="--template-file: cannot read"):
        run("create_prompt", "--team", "acme", "--name", "X", "--template-file", str(tmp_path))
