"""The demonstration search: few-shot sets drawn from train, by random search and by Optuna TPE (as in MIPROv2)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from prompts.content import LAYOUTS, Demonstration, PromptContent
from prompts.placeholders import template_variables
from workflows.engine.strategies.base import HistoryEntry, Proposal, ProposalContext
from workflows.engine.strategies.guards import NewContents

logger = logging.getLogger(__name__)

DEFAULT_MAX_DEMOS = 4
# Demonstrations share the task model's context window with the instruction and the example itself; the
# embedded model has 2,048 tokens, so long inputs get fewer demonstrations (about four characters a token).
DEMO_CHARS_BUDGET = 2_400
# Distinct demonstration sets the Bayesian search chooses among (plus those earlier trials used).
DEMO_SET_POOL_SIZE = 16
# Instructions the Bayesian search chooses among: the incumbent's, then the best earlier candidates'.
MAX_INSTRUCTIONS = 12
# Random samples before TPE models the scores; lower than Optuna's default of 10 because a run has only a
# few iterations of a few candidates each, and every replayed trial counts towards it.
TPE_STARTUP_TRIALS = 4
# Asks per wanted proposal before giving up: TPE repeats a combination once it is confident about it.
ATTEMPTS_PER_PROPOSAL = 8

DemoSearchMode = Literal["random", "bayesian", "mixed"]


def demonstration_pool(context: ProposalContext) -> list[Demonstration]:
    """Candidate demonstrations, bootstrapped ones first, each train input once; only inputs the template uses
    are checked, since rendering substitutes no others.

    Bootstrapped demonstrations (the task model's own answers that scored 1.0) come first, as in DSPy's
    BootstrapFewShot: they show the answer format the model can actually produce. Labelled train examples fill
    in. Nothing else is a source: the context holds no validation or test example, and demonstrations must
    not be invented.
    """
    variables = template_variables(context.incumbent.template)
    labelled = ((example.inputs, example.expected) for example in context.train)
    pool: list[Demonstration] = []
    seen_inputs: set[str] = set()
    for inputs, output in (*context.bootstrapped_demos, *labelled):
        if not output.strip() or any(not isinstance(inputs.get(name), str) for name in variables):
            continue
        key = inputs_key(inputs)
        if key in seen_inputs:
            continue
        seen_inputs.add(key)
        pool.append((dict(inputs), output.strip()))
    return pool


def demo_limit(pool: Sequence[Demonstration], configured: int) -> int:
    """How many demonstrations one prompt may carry: the configured cap, fewer when inputs are long."""
    if not pool or configured <= 0:
        return 0
    mean_chars = sum(sum(len(value) for value in inputs.values()) + len(output) for inputs, output in pool) / len(pool)
    fitting = max(1, int(DEMO_CHARS_BUDGET // max(mean_chars, 1.0)))
    return min(configured, fitting, len(pool))


def demo_set_size(limit: int, rng: random.Random) -> int:
    """How many demonstrations a sampled set gets: from the upper half of 1 to `limit`.

    Small task models follow many examples better than a few (DSPy's BootstrapFewShot fills sixteen); the
    lower half is left out because a short set rarely beats a long one, and `--prefer shorter` (not this
    sampler) is how a run trades a point for fewer prompt tokens. The add/drop mutations still reach any size.
    """
    return rng.randint(max(1, math.ceil(limit / 2)), limit) if limit > 0 else 0


def demo_set_sample(
    pool: Sequence[Demonstration], size: int, labels: Sequence[str], rng: random.Random
) -> tuple[Demonstration, ...]:
    """`size` distinct demonstrations; for a label task, round-robin over the labels so each is shown.

    Unbalanced sets teach small models a prior ("always positive"), and grouping one label at the end makes
    them repeat the last answer; interleaving the labels avoids both.
    """
    if size <= 0 or not pool:
        return ()
    if not labels:
        return tuple(rng.sample(list(pool), min(size, len(pool))))
    by_label: dict[str, list[Demonstration]] = {_normalized(label): [] for label in labels}
    unlabelled: list[Demonstration] = []
    for demo in pool:
        by_label.get(_normalized(demo[1]), unlabelled).append(demo)
    buckets = [rng.sample(bucket, len(bucket)) for bucket in by_label.values() if bucket]
    rng.shuffle(buckets)
    chosen: list[Demonstration] = []
    while len(chosen) < size and any(buckets):
        for bucket in buckets:
            if bucket and len(chosen) < size:
                chosen.append(bucket.pop())
    rng.shuffle(unlabelled)
    chosen.extend(unlabelled[: size - len(chosen)])
    return tuple(chosen)


def demo_set_key(demonstrations: Iterable[Demonstration]) -> str:
    """A stable name for a demonstration set (order matters: it is part of the prompt)."""
    return _digest([[dict(sorted(inputs.items())), output] for inputs, output in demonstrations])


def instruction_key(content: PromptContent) -> str:
    """A stable name for the instruction part of a content: its system instruction and template."""
    return _digest([content.system_instruction, content.template])


class DemoSearchStrategy:
    """Proposes the incumbent with other demonstration sets (random search), and instruction, demonstration
    set and layout combinations chosen by TPE from how earlier such combinations scored (Bayesian search).

    The Bayesian search is stateless between iterations: each call rebuilds an Optuna study from the run's
    history (the strategy's earlier proposals carry their choices in `params`), so a resumed run continues
    the same search. Choices are named by content hashes, not positions, because the instruction list and the
    generated demonstration sets change as the history grows.
    """

    name: ClassVar[str] = "demos"
    needs_optimizer: ClassVar[bool] = False

    def __init__(
        self, *, max_demos: int = DEFAULT_MAX_DEMOS, mode: DemoSearchMode = "mixed", pool_size: int = DEMO_SET_POOL_SIZE
    ) -> None:
        self.max_demos = max_demos
        self.mode = mode
        self.pool_size = pool_size

    def propose(self, context: ProposalContext, count: int) -> list[Proposal]:
        pool = demonstration_pool(context)
        limit = demo_limit(pool, self.max_demos)
        if count <= 0 or limit == 0:
            return []
        new_contents = NewContents(context)
        rng = random.Random(f"demos:random:{context.seed}")  # noqa: S311 - reproducible, not a secret
        if self.mode == "random":
            return self._random_search(context, count, pool, limit, new_contents, rng)
        if self.mode == "bayesian":
            return self._bayesian_search(context, count, pool, limit, new_contents)
        # Mixed: a local search around the incumbent and a global one; with an odd count the extra proposal
        # alternates between them by iteration. The Bayesian search fills what the random one could not, and
        # the random one (cheap to run twice) what the Bayesian one could not.
        random_share = count - (count // 2 + (count % 2 if context.iteration % 2 else 0))
        local = self._random_search(context, random_share, pool, limit, new_contents, rng)
        bayesian = self._bayesian_search(context, count - len(local), pool, limit, new_contents)
        if len(local) + len(bayesian) < count:
            local += self._random_search(context, count - len(local) - len(bayesian), pool, limit, new_contents, rng)
        return [*local, *bayesian]

    def _random_search(
        self,
        context: ProposalContext,
        count: int,
        pool: Sequence[Demonstration],
        limit: int,
        new_contents: NewContents,
        rng: random.Random,
    ) -> list[Proposal]:
        if count <= 0:
            return []
        incumbent = context.incumbent
        proposals: list[Proposal] = []
        for _attempt in range(count * ATTEMPTS_PER_PROPOSAL):
            if len(proposals) >= count:
                break
            demo_set = demo_set_sample(pool, demo_set_size(limit, rng), context.labels, rng)
            content = incumbent.edit(demonstrations=demo_set)
            if not new_contents.admit(content):
                continue
            balance = f", balanced over {len(context.labels)} labels" if context.labels else ""
            proposals.append(
                Proposal(
                    content=content,
                    strategy=self.name,
                    rationale=(
                        f"Random demonstration search: {len(demo_set)} train example(s){balance} in place of the "
                        f"incumbent's {len(incumbent.demonstrations)} demonstration(s)."
                    ),
                    params={
                        "mode": "random",
                        "instruction": instruction_key(incumbent),
                        "demo_set": demo_set_key(demo_set),
                        "layout": incumbent.layout,
                    },
                )
            )
        return proposals

    def _bayesian_search(
        self,
        context: ProposalContext,
        count: int,
        pool: Sequence[Demonstration],
        limit: int,
        new_contents: NewContents,
    ) -> list[Proposal]:
        if count <= 0:
            return []
        # Imported here: Optuna takes about a second to import and only this search needs it.
        import optuna
        from optuna.distributions import CategoricalDistribution
        from optuna.samplers import TPESampler
        from optuna.trial import TrialState

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        replayable = [entry for entry in context.history if entry.strategy == self.name and _has_choices(entry.params)]
        instructions = self._instructions(context, replayable)
        demo_sets = self._demo_sets(context, replayable, pool, limit)
        distributions: dict[str, Any] = {
            "instruction": CategoricalDistribution(list(instructions)),
            "demo_set": CategoricalDistribution(list(demo_sets)),
            "layout": CategoricalDistribution(list(LAYOUTS)),
        }
        seed = random.Random(f"demos:tpe:{context.seed}").randrange(2**32)  # noqa: S311 - reproducible, not a secret
        # Optuna 5's TPE runs with constant_liar by default: several asks of one round, told nothing yet, are
        # steered apart instead of all landing on the current best guess.
        sampler = TPESampler(seed=seed, n_startup_trials=TPE_STARTUP_TRIALS)
        study = optuna.create_study(direction="maximize", sampler=sampler)

        known_scores = {entry.content.key: entry.score for entry in context.history}
        known_scores.setdefault(context.incumbent.key, context.incumbent_score)
        replayed = 0
        for entry in replayable:
            params = {name: entry.params[name] for name in distributions}
            if not all(params[name] in distribution.choices for name, distribution in distributions.items()):
                continue
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=distributions, value=float(entry.score))
            )
            replayed += 1

        incumbent_instruction = instruction_key(context.incumbent)
        instruction_scores: dict[str, float] = {}
        for entry in context.history:
            key = instruction_key(entry.content)
            instruction_scores[key] = max(entry.score, instruction_scores.get(key, entry.score))
        proposals: list[Proposal] = []
        for _attempt in range(count * ATTEMPTS_PER_PROPOSAL):
            if len(proposals) >= count:
                break
            trial = study.ask(distributions)
            system_instruction, template = instructions[trial.params["instruction"]]
            demo_set = demo_sets[trial.params["demo_set"]]
            content = context.incumbent.edit(
                system_instruction=system_instruction,
                template=template,
                demonstrations=demo_set,
                layout=trial.params["layout"],
            )
            if not new_contents.admit(content):
                # A combination that was already scored teaches TPE its score; a repeat within this round
                # is simply discarded.
                if content.key in known_scores:
                    study.tell(trial, known_scores[content.key])
                else:
                    study.tell(trial, state=TrialState.FAIL)
                continue
            chosen_instruction = trial.params["instruction"]
            instruction_origin = "the incumbent's instruction"
            if chosen_instruction != incumbent_instruction:
                earlier_score = instruction_scores.get(chosen_instruction, 0.0)
                instruction_origin = f"the instruction of an earlier candidate (best score {earlier_score:.2f})"
            proposals.append(
                Proposal(
                    content=content,
                    strategy=self.name,
                    rationale=(
                        f"Bayesian search (TPE after {replayed} earlier trial(s)): {instruction_origin} with "
                        f"{len(demo_set)} demonstration(s) in the {trial.params['layout']} layout."
                    ),
                    params={"mode": "bayesian", **trial.params},
                )
            )
        return proposals

    @staticmethod
    def _instructions(context: ProposalContext, replayable: Sequence[HistoryEntry]) -> dict[str, tuple[str, str]]:
        """Instruction choices: the incumbent's, those of replayed trials (so their params resolve), then the
        best earlier candidates' (the history is best first)."""
        instructions: dict[str, tuple[str, str]] = {}
        contents = [context.incumbent, *(entry.content for entry in replayable)]
        for content in contents:
            instructions.setdefault(instruction_key(content), (content.system_instruction, content.template))
        for entry in context.history:
            if len(instructions) >= MAX_INSTRUCTIONS:
                break
            instructions.setdefault(
                instruction_key(entry.content), (entry.content.system_instruction, entry.content.template)
            )
        return instructions

    def _demo_sets(
        self, context: ProposalContext, replayable: Sequence[HistoryEntry], pool: Sequence[Demonstration], limit: int
    ) -> dict[str, tuple[Demonstration, ...]]:
        """Demonstration-set choices: those of replayed trials and the incumbent's (if any), then sets generated
        from the seed (balanced over labels, the upper half of sizes 1 to `limit`)."""
        demo_sets: dict[str, tuple[Demonstration, ...]] = {}
        for content in (*(entry.content for entry in replayable), context.incumbent):
            # An empty set is no choice of this search (the incumbent without demonstrations is scored already).
            if content.demonstrations:
                demo_sets.setdefault(demo_set_key(content.demonstrations), tuple(content.demonstrations))
        rng = random.Random(f"demos:pool:{context.seed}")  # noqa: S311 - reproducible, not a secret
        wanted = len(demo_sets) + self.pool_size
        for _attempt in range(self.pool_size * ATTEMPTS_PER_PROPOSAL):
            if len(demo_sets) >= wanted:
                break
            demo_set = demo_set_sample(pool, demo_set_size(limit, rng), context.labels, rng)
            demo_sets.setdefault(demo_set_key(demo_set), demo_set)
        return demo_sets


def _has_choices(params: Mapping[str, Any]) -> bool:
    return all(isinstance(params.get(name), str) for name in ("instruction", "demo_set", "layout"))


def inputs_key(inputs: Mapping[str, str]) -> str:
    """A stable name for one example's inputs (two demonstrations of the same input are one too many)."""
    return json.dumps(dict(inputs), sort_keys=True, ensure_ascii=False)


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _normalized(text: str) -> str:
    return " ".join(text.casefold().split())
