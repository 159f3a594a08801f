"""The search plan: how a run will spend its call budget, decided from the budget, the split sizes and the
config before the first call.

Calls go to four places: the final test (kept back whole: baseline and winner on every test row), the
incumbent's validation sample (once), and per iteration the incumbent's minibatch, the candidates' train rows
(successive halving or UCB) and the survivors' validation samples. When the budget cannot pay for the
configured shape, the plan shrinks it — first the validation sample (down to MIN_VALIDATION_ROWS), then the
candidates per iteration, then the minibatch, then the survivors — until it buys a few iterations; when not
even the leanest shape buys one iteration, the run is refused before any call, with the budget it would need.

Validation decisions race: a survivor is first compared with the incumbent on `validation_rows` rows; when the
decision is close it gets twice as many rows, up to `validation_looks` looks. Each look tests at a stricter
level (the error rate split across the looks in proportion to their rows), so the gate's guarantee holds for
the sample used.

Under a call budget the plan's iterations are a floor, not a ceiling: calls the plan counted but did not
spend (cache hits, candidates that earned no validation) pay for further iterations, up to the configured
number (none configured: as long as the budget lasts), and patience does not cut a budget-bound search short
(the user set those calls aside for it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from promptopt.errors import InvalidInputError
from workflows.engine.answer_names import naming_calls
from workflows.engine.config import RunConfig

# Below this many rows a paired comparison can hardly tell a real gain from noise (a candidate would have to
# win on nearly every row it changes), so no plan compares candidates on fewer (unless validation is smaller).
MIN_VALIDATION_ROWS = 20
# The first look of a validation decision when the budget allows it; close decisions grow from there.
DEFAULT_VALIDATION_ROWS = 60
# A close decision may look at 2x and 4x the first sample.
VALIDATION_LOOKS = 3
# The plan shrinks the search's shape until the budget buys this many iterations (or the configured number).
TARGET_ITERATIONS = 3
MIN_MINIBATCH = 4
MIN_CANDIDATES = 2


@dataclass(frozen=True)
class SearchShape:
    minibatch_size: int
    candidates_per_iteration: int
    survivors: int
    validation_rows: int


@dataclass(frozen=True)
class SearchPlan:
    shape: SearchShape
    iterations: int  # full iterations the budget pays for (at most the configured number)
    validation_looks: int
    validation_max_rows: int  # what the last look of a close decision may use
    test_reserve_calls: int
    baseline_validation_calls: int
    calls_per_iteration: int  # planned: every survivor decided on its first look
    answer_naming_calls: int  # once, before the first proposals (answer_names.py)
    budget_calls: int | None

    @property
    def minibatch_size(self) -> int:
        return self.shape.minibatch_size

    @property
    def candidates_per_iteration(self) -> int:
        return self.shape.candidates_per_iteration

    @property
    def survivors(self) -> int:
        return self.shape.survivors

    @property
    def validation_rows(self) -> int:
        return self.shape.validation_rows

    @property
    def search_calls(self) -> int:
        return self.fixed_calls + self.iterations * self.calls_per_iteration

    @property
    def fixed_calls(self) -> int:
        """Search calls made once, whatever the number of iterations."""
        return self.baseline_validation_calls + self.answer_naming_calls

    def look_sizes(self) -> list[int]:
        """The validation sample of each look: the first sample, doubled each time, capped at the maximum."""
        sizes = [self.validation_rows]
        while len(sizes) < self.validation_looks and sizes[-1] < self.validation_max_rows:
            sizes.append(min(self.validation_max_rows, sizes[-1] * 2))
        return sizes

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.shape) | {
            "iterations": self.iterations,
            "validation_looks": len(self.look_sizes()),
            "validation_max_rows": self.validation_max_rows,
            "test_reserve_calls": self.test_reserve_calls,
            "baseline_validation_calls": self.baseline_validation_calls,
            "calls_per_iteration": self.calls_per_iteration,
            "answer_naming_calls": self.answer_naming_calls,
            "search_calls": self.search_calls,
            "budget_calls": self.budget_calls,
        }


def test_reserve_calls(test_size: int) -> int:
    """Calls kept back from the search so baseline and winner can always be scored on the whole test split."""
    return 2 * test_size


def search_plan(config: RunConfig, *, train_size: int, validation_size: int, test_size: int) -> SearchPlan:
    """The plan for this config on splits of these sizes; InvalidInputError (naming `budget.max_calls`) when
    the budget cannot pay for one iteration with a validation comparison of MIN_VALIDATION_ROWS rows."""
    validation_cap = min(validation_size, config.validation_limit or validation_size)
    first_look = min(validation_cap, DEFAULT_VALIDATION_ROWS if config.validation_limit is None else validation_cap)
    configured = SearchShape(
        minibatch_size=min(config.minibatch_size, train_size),
        candidates_per_iteration=config.candidates_per_iteration,
        survivors=config.survivors,
        validation_rows=first_look,
    )
    reserve = test_reserve_calls(test_size)
    naming = naming_calls(config.strategies, train_size=train_size)
    budget = config.budget.max_calls

    def plan_for(shape: SearchShape, iterations: int) -> SearchPlan:
        return SearchPlan(
            shape=shape,
            iterations=iterations,
            validation_looks=VALIDATION_LOOKS,
            validation_max_rows=max(
                shape.validation_rows, min(validation_cap, shape.validation_rows * 2 ** (VALIDATION_LOOKS - 1))
            ),
            test_reserve_calls=reserve,
            baseline_validation_calls=shape.validation_rows,
            calls_per_iteration=iteration_calls(shape, train_size=train_size, selection=config.selection),
            answer_naming_calls=naming,
            budget_calls=budget,
        )

    if budget is None:
        return plan_for(configured, config.iteration_limit)
    if budget <= reserve:
        raise InvalidInputError(
            f"budget.max_calls: {budget} leaves nothing for the search once the {reserve} calls that score "
            f"baseline and winner on the {test_size} test rows are kept back"
        )
    search = budget - reserve - naming  # what is left for the baseline's validation and the iterations
    target = min(config.iteration_limit, TARGET_ITERATIONS)
    options = [
        (_iterations_affordable(shape, search, train_size=train_size, selection=config.selection), shape)
        for shape in _leaner_shapes(configured, validation_floor=min(MIN_VALIDATION_ROWS, validation_cap))
    ]
    for affordable, shape in options:
        if affordable >= target:
            return plan_for(shape, min(config.iteration_limit, affordable))
    affordable, shape = max(options, key=lambda option: option[0])  # the richest shape that buys the most
    if affordable < 1:
        shape = options[-1][1]  # the leanest shape, which needs the least
        needed = (
            reserve
            + naming
            + shape.validation_rows
            + iteration_calls(shape, train_size=train_size, selection=config.selection)
        )
        raise InvalidInputError(
            f"budget.max_calls: {budget} calls cannot pay for one iteration of the search: the final test keeps "
            f"{reserve} back ({test_size} test rows, baseline and winner), and the leanest search (minibatch "
            f"{shape.minibatch_size}, {shape.candidates_per_iteration} candidates, validation on "
            f"{shape.validation_rows} rows) needs {needed - reserve} more; give at least {needed} calls"
        )
    return plan_for(shape, affordable)


def remainder_shape(shape: SearchShape, remaining: int, *, train_size: int, selection: str) -> SearchShape | None:
    """The richest shape no richer than `shape` whose iteration the `remaining` calls pay for, keeping the
    validation sample (a leaner decision would be a less sure one): fewer candidates, then a smaller minibatch,
    then fewer survivors. None when not even the leanest fits."""
    for leaner in _leaner_shapes(shape, validation_floor=shape.validation_rows):
        if iteration_calls(leaner, train_size=train_size, selection=selection) <= remaining:
            return leaner
    return None


def leanest_iteration_calls(shape: SearchShape, *, train_size: int, selection: str) -> int:
    """What the leanest iteration `remainder_shape` may choose costs."""
    leanest = _leaner_shapes(shape, validation_floor=shape.validation_rows)[-1]
    return iteration_calls(leanest, train_size=train_size, selection=selection)


def _iterations_affordable(shape: SearchShape, search_calls: int, *, train_size: int, selection: str) -> int:
    per_iteration = iteration_calls(shape, train_size=train_size, selection=selection)
    return max(0, (search_calls - shape.validation_rows) // per_iteration)


def _leaner_shapes(shape: SearchShape, *, validation_floor: int) -> list[SearchShape]:
    """The configured shape, then ever leaner ones: the validation sample first (it costs most per
    iteration), then the candidates, then the minibatch, then the survivors."""
    shapes = [shape]

    def shrink(field: str, floor: int) -> None:
        while True:
            current = shapes[-1]
            value = getattr(current, field)
            smaller = max(floor, value // 2 if field != "validation_rows" else math.ceil(value * 2 / 3))
            if smaller >= value:
                return
            leaner = replace(current, **{field: smaller})
            if leaner.survivors > leaner.candidates_per_iteration:
                leaner = replace(leaner, survivors=leaner.candidates_per_iteration)
            shapes.append(leaner)

    shrink("validation_rows", validation_floor)
    shrink("candidates_per_iteration", min(MIN_CANDIDATES, shape.candidates_per_iteration))
    shrink("minibatch_size", min(MIN_MINIBATCH, shape.minibatch_size))
    shrink("survivors", 1)
    return shapes


def iteration_calls(shape: SearchShape, *, train_size: int, selection: str) -> int:
    """Task calls of one iteration when every survivor is decided on its first validation look."""
    minibatch = shape.minibatch_size
    refined = _refined_calls(shape, selection=selection, train_size=train_size)
    return minibatch + refined + shape.survivors * shape.validation_rows


def _refined_calls(shape: SearchShape, *, selection: str, train_size: int) -> int:
    candidates, minibatch = shape.candidates_per_iteration, shape.minibatch_size
    if selection == "ucb":
        # The minibatch for everyone, then one extra half-minibatch pull per candidate (plus the incumbent's).
        return candidates * minibatch + candidates * max(1, minibatch // 2) * 2
    calls, active, spare = 0, candidates, max(0, train_size - minibatch)
    while True:
        calls += active * minibatch
        if active <= shape.survivors or spare < 1:
            return calls
        active = max(shape.survivors, math.ceil(active / 2))
        batch = min(minibatch, spare)
        spare -= batch
        calls += batch  # the incumbent on the new rows
        minibatch = batch
