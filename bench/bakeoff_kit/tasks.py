"""The bake-off's tasks: which are for development and which for the report, the rows every system gets, the
plain instruction every system starts from, and the one scorer every system's final test is scored with."""

from __future__ import annotations

from dataclasses import dataclass

from optimization_quality import split_rows

# Fixed before any tuning (docs/benchmarks.md §8). Engine changes are judged on development tasks' train and
# validation rows only; report tasks are run only by this script, for the table.
DEVELOPMENT_TASKS = (
    "ape__sentiment",
    "ape__antonyms",
    "ape__first_word_letter",
    "bbh__sports_understanding",
    "ape__translation_en-de",
    "bbh__date_understanding",
)
REPORT_TASKS = (
    "ape__singular_to_plural",
    "ape__synonyms",
    "ape__sum",
    "bbh__boolean_expressions",
    "bbh__formal_fallacies",
    "bbh__snarks",
)

# The instruction a user would first write for each task, knowing only what the task is and what an answer
# looks like. Every system starts from it.
PLAIN_INSTRUCTIONS = {
    "ape__sentiment": "Classify the sentiment of the sentence as positive or negative.",
    "ape__antonyms": "Write a word that means the opposite of the input word.",
    "ape__first_word_letter": "Extract the first letter of the input word.",
    "bbh__sports_understanding": "Is the following sentence plausible? Answer yes or no.",
    "ape__translation_en-de": "Translate the English word into German.",
    "bbh__date_understanding": "Answer the question about dates with the letter of the correct option, e.g. (A).",
    "ape__singular_to_plural": "Write the plural form of the input word.",
    "ape__synonyms": "Write a word that means the same as the input word.",
    "ape__sum": "Add the two numbers and write the sum.",
    "bbh__boolean_expressions": "Evaluate the boolean expression. Answer True or False.",
    "bbh__formal_fallacies": "Is the argument deductively valid? Answer valid or invalid.",
    "bbh__snarks": "Which statement is sarcastic? Answer with the letter of the option, e.g. (A).",
}


@dataclass(frozen=True)
class Row:
    input: str
    target: str
    answers: tuple[str, ...]  # every accepted answer (the target among them)


@dataclass(frozen=True)
class TaskSplits:
    task: str
    seed: int
    train: tuple[Row, ...]
    validation: tuple[Row, ...]
    test: tuple[Row, ...]

    @property
    def instruction(self) -> str:
        return PLAIN_INSTRUCTIONS[self.task]

    def labels(self) -> tuple[str, ...]:
        """The train answers when the engine would take them for a label set (what the "stated labels" baseline
        names), in alphabetical order."""
        from workflows.engine.data import EngineExample, label_set

        examples = [EngineExample(id=index, inputs={}, expected=row.target) for index, row in enumerate(self.train)]
        return tuple(sorted(label_set(examples)))


def task_splits(task: str, seed: int, *, limit: int | None = None) -> TaskSplits:
    """The rows of bench/optimization_quality.py: 50 train and 50 validation rows drawn by seed from the task's
    train pool, the task's own test rows (APE: the 100 `execute` rows; BBH: the first 100 of OPRO's test)."""
    rows = split_rows(task, seed)

    def split(name: str) -> tuple[Row, ...]:
        chosen = tuple(
            Row(input=row["input"], target=row["target"], answers=tuple(row["answers"]))
            for row in rows
            if row["split"] == name
        )
        return chosen[:limit]  # a limit only for checking the harness end to end (--smoke)

    return TaskSplits(task=task, seed=seed, train=split("train"), validation=split("validation"), test=split("test"))


def test_score(output: str, row: Row) -> float:
    """The one scorer of every system's final test: the product's `normalized_match` against any accepted
    answer (case, surrounding whitespace and punctuation ignored), so no system is judged by its own metric."""
    from workflows.metrics import MetricInput, build_metric, parse_metric_config

    metric = build_metric(parse_metric_config({"name": "normalized_match"}))
    result = metric.score(MetricInput(output=output, expected=row.target, accepted_answers=row.answers, inputs={}))
    return float(result.score)
