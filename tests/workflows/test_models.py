"""Database constraints on predictions: one owner, one subject, scores in range, no double counting."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.factories import EvaluationRunFactory, ExampleFactory
from workflows.models import Prediction


@pytest.fixture
def evaluation(db):
    return EvaluationRunFactory()


@pytest.fixture
def example(evaluation):
    return ExampleFactory(version=evaluation.dataset_version)


def test_it_stores_a_prediction_of_an_evaluation(evaluation, example):
    prediction = Prediction.objects.create(
        evaluation=evaluation, version=evaluation.version, example=example, output="positive", score=1.0
    )
    assert Prediction.objects.get(pk=prediction.pk).score == 1.0


@pytest.mark.parametrize(
    "changes",
    [
        {"evaluation": None},  # no owner
        {"version": None},  # no subject
        {"score": 1.5},  # out of range
    ],
)
def test_it_refuses_inconsistent_predictions(evaluation, example, changes):
    values = {"evaluation": evaluation, "version": evaluation.version, "example": example, "score": 0.5}
    values.update(changes)
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.create(**values)


def test_it_refuses_a_second_prediction_for_the_same_example_in_one_evaluation(evaluation, example):
    Prediction.objects.create(evaluation=evaluation, version=evaluation.version, example=example, score=0.0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.create(evaluation=evaluation, version=evaluation.version, example=example, score=1.0)
