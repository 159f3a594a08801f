"""Builds the strategy mix a run asks for by name, and splits each iteration's proposal count among it."""

from __future__ import annotations

from collections.abc import Sequence

from promptopt.errors import InvalidInputError
from workflows.engine.strategies.base import Strategy
from workflows.engine.strategies.critique import CritiqueStrategy
from workflows.engine.strategies.demos import DEFAULT_MAX_DEMOS, DemoSearchStrategy
from workflows.engine.strategies.history import HistoryStrategy
from workflows.engine.strategies.mutations import MutationStrategy
from workflows.engine.strategies.vertex import VertexPromptOptimizerStrategy, VertexSettings, vertex_sdk_available

AUTO = "auto"
STRATEGY_NAMES: tuple[str, ...] = (
    MutationStrategy.name,
    DemoSearchStrategy.name,
    CritiqueStrategy.name,
    HistoryStrategy.name,
    VertexPromptOptimizerStrategy.name,
)
OPTIMIZER_STRATEGY_NAMES = (CritiqueStrategy.name, HistoryStrategy.name)


def strategies_build(
    names: Sequence[str],
    *,
    optimizer_available: bool,
    vertex: VertexSettings | None,
    max_demos: int = DEFAULT_MAX_DEMOS,
) -> list[Strategy]:
    """The strategies for these names, in the order given, each once.

    "auto" stands for every strategy that can work with what is configured: mutations and demos always,
    critique and history with an optimizer model, vertex when Vertex AI is configured. A strategy named
    explicitly must be usable, so a misconfigured run fails when it is created rather than proposing nothing.
    Vertex also needs its SDK (google-cloud-aiplatform) installed.
    """
    unknown = [name for name in names if name != AUTO and name not in STRATEGY_NAMES]
    if unknown:
        known = ", ".join((AUTO, *STRATEGY_NAMES))
        raise InvalidInputError(f"unknown strategy {', '.join(map(repr, unknown))}; known strategies: {known}")
    if not names:
        raise InvalidInputError(f"name at least one strategy (or {AUTO!r})")

    wanted: list[str] = []
    for name in names:
        if name == AUTO:
            expanded = [MutationStrategy.name, DemoSearchStrategy.name]
            if optimizer_available:
                expanded += OPTIMIZER_STRATEGY_NAMES
            # Without the SDK the strategy could only log a warning every iteration, so "auto" leaves it out.
            if vertex is not None and vertex_sdk_available():
                expanded.append(VertexPromptOptimizerStrategy.name)
        else:
            if name in OPTIMIZER_STRATEGY_NAMES and not optimizer_available:
                raise InvalidInputError(
                    f"strategy {name!r} needs an optimizer model: set optimizer_provider (and optimizer_model), "
                    "or leave it out"
                )
            if name == VertexPromptOptimizerStrategy.name and vertex is None:
                raise InvalidInputError("strategy 'vertex' needs Vertex AI to be configured (VERTEX_PROJECT)")
            if name == VertexPromptOptimizerStrategy.name and not vertex_sdk_available():
                raise InvalidInputError("strategy 'vertex' needs the google-cloud-aiplatform package installed")
            expanded = [name]
        wanted += [strategy for strategy in expanded if strategy not in wanted]

    strategies: list[Strategy] = []
    for name in wanted:
        if name == MutationStrategy.name:
            strategies.append(MutationStrategy(max_demos=max_demos))
        elif name == DemoSearchStrategy.name:
            strategies.append(DemoSearchStrategy(max_demos=max_demos))
        elif name == CritiqueStrategy.name:
            strategies.append(CritiqueStrategy())
        elif name == HistoryStrategy.name:
            strategies.append(HistoryStrategy())
        elif vertex is not None:  # the only name left is "vertex", refused above when unconfigured
            strategies.append(
                VertexPromptOptimizerStrategy(
                    project=vertex.project, location=vertex.location, credentials_file=vertex.credentials_file
                )
            )
    return strategies


def allocate(strategies: Sequence[Strategy], count: int, iteration: int) -> list[tuple[Strategy, int]]:
    """Splits `count` proposals as evenly as possible; the remainder goes one each to the strategies starting
    at position `iteration` (wrapping), so over iterations no strategy is always short-changed.

    Every strategy is listed, possibly with 0; the shares always add up to `count`. With only the embedded
    model, the mix is mutations and demos, which therefore fill the whole count between them.
    """
    if not strategies or count <= 0:
        return [(strategy, 0) for strategy in strategies]
    share, remainder = divmod(count, len(strategies))
    start = iteration % len(strategies)
    extra = {(start + offset) % len(strategies) for offset in range(remainder)}
    return [(strategy, share + (1 if index in extra else 0)) for index, strategy in enumerate(strategies)]
