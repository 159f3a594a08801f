"""Building the strategy mix by name and splitting each iteration's proposals among it."""

from __future__ import annotations

import pytest

from promptopt.errors import InvalidInputError
from tests.engine.test_strategies_support import sentiment_context
from workflows.engine.strategies import registry
from workflows.engine.strategies.registry import STRATEGY_NAMES, allocate, strategies_build
from workflows.engine.strategies.vertex import VertexSettings

VERTEX = VertexSettings(project="demo-project", location="us-central1")


def _names(strategies):
    return [strategy.name for strategy in strategies]


def test_it_knows_every_strategy_by_name():
    assert STRATEGY_NAMES == ("mutations", "demos", "critique", "history", "vertex")


def test_it_expands_auto_to_what_is_configured(monkeypatch):
    monkeypatch.setattr(registry, "vertex_sdk_available", lambda: True)

    assert _names(strategies_build(["auto"], optimizer_available=False, vertex=None)) == ["mutations", "demos"]
    assert _names(strategies_build(["auto"], optimizer_available=True, vertex=None)) == [
        "mutations",
        "demos",
        "critique",
        "history",
    ]
    assert _names(strategies_build(["auto"], optimizer_available=True, vertex=VERTEX)) == [
        "mutations",
        "demos",
        "critique",
        "history",
        "vertex",
    ]


def test_it_leaves_vertex_out_of_auto_without_its_sdk(monkeypatch):
    monkeypatch.setattr(registry, "vertex_sdk_available", lambda: False)

    assert _names(strategies_build(["auto"], optimizer_available=False, vertex=VERTEX)) == ["mutations", "demos"]
    with pytest.raises(InvalidInputError, match="google-cloud-aiplatform"):
        strategies_build(["vertex"], optimizer_available=False, vertex=VERTEX)


def test_it_builds_named_strategies_once_each_in_order():
    strategies = strategies_build(["demos", "auto", "demos", "history"], optimizer_available=True, vertex=None)

    assert _names(strategies) == ["demos", "mutations", "critique", "history"]


def test_it_passes_the_demonstration_cap_on():
    (mutations, demos) = strategies_build(["mutations", "demos"], optimizer_available=False, vertex=None, max_demos=2)

    assert demos.max_demos == 2
    proposal = mutations.propose(sentiment_context(), 1)[0]
    assert len(proposal.content.demonstrations) <= 2


def test_it_refuses_an_unknown_name_and_lists_the_known_ones():
    with pytest.raises(InvalidInputError) as error:
        strategies_build(["mutations", "gepa"], optimizer_available=True, vertex=None)

    message = str(error.value)
    assert "'gepa'" in message
    for name in ("auto", *STRATEGY_NAMES):
        assert name in message


def test_it_refuses_optimizer_strategies_without_an_optimizer_model():
    for name in ("critique", "history"):
        with pytest.raises(InvalidInputError, match="needs an optimizer model"):
            strategies_build([name], optimizer_available=False, vertex=None)


def test_it_refuses_vertex_when_vertex_is_not_configured(monkeypatch):
    monkeypatch.setattr(registry, "vertex_sdk_available", lambda: True)

    with pytest.raises(InvalidInputError, match="Vertex AI to be configured"):
        strategies_build(["vertex"], optimizer_available=True, vertex=None)
    assert _names(strategies_build(["vertex"], optimizer_available=False, vertex=VERTEX)) == ["vertex"]


def test_it_refuses_an_empty_list():
    with pytest.raises(InvalidInputError):
        strategies_build([], optimizer_available=False, vertex=None)


def test_it_splits_the_count_evenly_and_rotates_the_remainder():
    strategies = strategies_build(["auto"], optimizer_available=True, vertex=None)

    shares = {iteration: [count for _strategy, count in allocate(strategies, 6, iteration)] for iteration in range(4)}

    assert shares == {0: [2, 2, 1, 1], 1: [1, 2, 2, 1], 2: [1, 1, 2, 2], 3: [2, 1, 1, 2]}
    assert all(sum(counts) == 6 for counts in shares.values())


def test_it_fills_the_whole_count_with_mutations_and_demos_for_the_embedded_model():
    strategies = strategies_build(["auto"], optimizer_available=False, vertex=None)

    for iteration in range(3):
        allocation = allocate(strategies, 5, iteration)
        assert [strategy.name for strategy, _count in allocation] == ["mutations", "demos"]
        assert sum(count for _strategy, count in allocation) == 5
        proposed = sum(
            len(strategy.propose(sentiment_context(iteration=iteration), count)) for strategy, count in allocation
        )
        assert proposed == 5


def test_it_gives_nothing_when_the_count_is_smaller_than_the_mix():
    strategies = strategies_build(["auto"], optimizer_available=True, vertex=None)

    assert [count for _strategy, count in allocate(strategies, 1, 2)] == [0, 0, 1, 0]
    assert [count for _strategy, count in allocate(strategies, 0, 2)] == [0, 0, 0, 0]
    assert allocate([], 3, 0) == []
