"""Loads a dataset version's examples for a run: the search's train and validation, and — separately — the test.

Two loaders on purpose: `search_data_load` is the only one the engine's inputs come from, and it filters on
the train and validation splits in the query itself; `held_out_examples_load` (the test split) is called by
the runner once the search has returned.
"""

from __future__ import annotations

from prompts.models import DatasetVersion, Example
from prompts.splits import Split
from workflows.engine.data import EngineExample, SearchData

SEARCH_SPLITS = (Split.TRAIN, Split.VALIDATION)


def _engine_example(example: Example) -> EngineExample:
    return EngineExample(
        id=example.pk,
        inputs=dict(example.inputs),
        expected=example.expected_output,
        accepted_answers=tuple(example.accepted_answers or ()),
    )


def search_data_load(*, dataset_version: DatasetVersion) -> SearchData:
    examples = Example.objects.filter(version=dataset_version, split__in=SEARCH_SPLITS).order_by("position")
    train: list[EngineExample] = []
    validation: list[EngineExample] = []
    for example in examples.iterator(chunk_size=2000):
        (train if example.split == Split.TRAIN else validation).append(_engine_example(example))
    return SearchData(
        train=tuple(train), validation=tuple(validation), input_fields=tuple(dataset_version.input_fields)
    )


def held_out_examples_load(*, dataset_version: DatasetVersion) -> tuple[EngineExample, ...]:
    examples = Example.objects.filter(version=dataset_version, split=Split.TEST).order_by("position")
    return tuple(_engine_example(example) for example in examples.iterator(chunk_size=2000))
