"""The five-step search loop: primary inference, evaluation, optimizer proposals, refined inference, second
evaluation — checkpointed after every step through a recorder, resumable from any checkpoint.

The engine sees only `SearchData` (train and validation). The test split is scored by `final_test` after
`search()` has returned, by the caller; nothing here can reach it.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from prompts.content import PromptContent
from workflows.engine.answer_names import NAMING_MAX_TOKENS, agreed_names, naming_prompts
from workflows.engine.config import RunConfig
from workflows.engine.data import EngineExample, SearchData, label_set
from workflows.engine.output_bound import LINE_END, OutputBound, output_bound, within_bound
from workflows.engine.pareto import parent_choice
from workflows.engine.plan import SearchPlan, SearchShape, leanest_iteration_calls, remainder_shape
from workflows.engine.scoring import Scorer, mean_score
from workflows.engine.state import STEP_ORDER, Acceptance, CandidateState, EngineState, Scored, StepName, UsageState
from workflows.engine.strategies.base import HistoryEntry, Observation, OptimizerModel, ProposalContext, Strategy
from workflows.engine.strategies.registry import allocate
from workflows.stats import compare_paired

logger = logging.getLogger("promptopt.engine")

# Bootstrapped demonstrations kept in the checkpoint (model outputs that scored 1.0 on train examples).
MAX_BOOTSTRAPPED_DEMOS = 64

# The strategy name of the baseline trimmed to the output bound (`Engine._bound_proposal`).
BOUND_STRATEGY = "output_bound"


@dataclass
class StepRecord:
    """What one step produced, persisted by the recorder in one transaction together with the state."""

    iteration: int
    step: StepName
    summary: dict[str, Any] = field(default_factory=dict)
    predictions: list[tuple[str, Scored]] = field(default_factory=list)  # (candidate key, scored output)
    candidates: list[CandidateState] = field(default_factory=list)  # created or updated in this step
    accepted_key: str | None = None
    skipped: bool = False


class Recorder(Protocol):
    def step_started(self, iteration: int, step: StepName) -> None: ...

    def step_finished(self, record: StepRecord, state: EngineState) -> None:
        """Persist the step's rows and the new state atomically: this is the run's checkpoint."""
        ...


ProgressCallback = Callable[[int, StepName, float], None]


class Engine:
    def __init__(
        self,
        *,
        data: SearchData,
        config: RunConfig,
        plan: SearchPlan,
        scorer: Scorer,
        strategies: Sequence[Strategy],
        recorder: Recorder,
        usage: Callable[[], UsageState],
        exhausted_reason: Callable[[], str | None],
        remaining_calls: Callable[[], int | None] = lambda: None,
        optimizer: OptimizerModel | None = None,
        provider_scores_choices: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self._data = data
        self._config = config
        self._plan = plan
        self._remaining_calls = remaining_calls
        self._scorer = scorer
        self._strategies = list(strategies)
        self._recorder = recorder
        self._usage = usage
        self._exhausted_reason = exhausted_reason
        self._optimizer = optimizer
        self._provider_scores_choices = provider_scores_choices
        self._on_progress = on_progress
        self._examples = data.by_id()
        self._labels = label_set(data.train)
        # Validation rows in a seeded order: each decision looks at a prefix of it, so every candidate and the
        # incumbent are compared on the same rows, and a close decision extends the prefix.
        order = list(data.validation)
        random.Random(f"{config.seed}:validation").shuffle(order)  # noqa: S311 - sampling, not secrets
        self._validation_order = order[: plan.validation_max_rows]
        self._output_bound = output_bound(data.train, metric_name=str(config.metric.get("name", "")))

    @property
    def output_bound(self) -> OutputBound:
        """How much a candidate may generate during the search (workflows/engine/output_bound.py)."""
        return self._output_bound

    def bounded(self, content: PromptContent) -> PromptContent:
        """The content as the search runs it on train: no more tokens or lines than the train targets need."""
        return within_bound(content, self._output_bound)

    def validated(self, state: EngineState, candidate: CandidateState) -> PromptContent:
        """The content as validation scores it: the baseline as written, every other prompt within the bound.

        Validation decides what is kept and the test compares the winner with the baseline as its version is
        saved, so the bar on validation is that same prompt: a change must beat what the user wrote, not a
        trimmed copy of it. The trimmed copy competes as a proposal of its own (`_bound_proposal`)."""
        content = candidate.prompt()
        # A checkpoint from before this rule keeps the old one (every prompt within the bound), so no run
        # compares baseline rows scored two ways.
        as_written = candidate.key == state.baseline.key and state.baseline_as_written
        return content if as_written else self.bounded(content)

    @staticmethod
    def initial_state(baseline: PromptContent) -> EngineState:
        start = CandidateState.of(baseline)
        return EngineState(baseline=start, incumbent=start.model_copy(deep=True), baseline_as_written=True)

    def search(self, state: EngineState) -> EngineState:
        """Run steps from the state's checkpoint until a stopping rule fires; returns the final state."""
        while not state.stop_reason:
            iteration, step = state.next_step()
            if step == STEP_ORDER[0]:
                reason = self._stop_reason(state, starting=iteration)
                if reason:
                    state.stop_reason = reason
                    break
            self._recorder.step_started(iteration, step)
            state.iteration = iteration
            record = self._run_step(state, iteration, step)
            state.completed_step = step
            state.usage = self._usage()
            exhausted = self._exhausted_reason()
            if exhausted:
                state.budget_exhausted = True
                state.stop_reason = exhausted
                record.summary["stopped"] = exhausted
            self._recorder.step_finished(record, state)
            if self._on_progress is not None:
                done = (iteration - 1) * len(STEP_ORDER) + STEP_ORDER.index(step) + 1
                self._on_progress(iteration, step, min(1.0, done / (self._plan.iterations * len(STEP_ORDER))))
        logger.info("search stopped: %s", state.stop_reason)
        return state

    def _stop_reason(self, state: EngineState, *, starting: int) -> str:
        config = self._config
        if starting > config.iteration_limit:
            return f"completed {config.iteration_limit} iterations"
        remaining = self._remaining_calls()
        state.shape = None
        if starting > 1 and remaining is not None and remaining < self._plan.calls_per_iteration:
            # Calls the plan counted but did not spend (cache hits, candidates that earned no validation) buy
            # further iterations: a leaner one (fewer candidates, a smaller minibatch, one survivor; the same
            # validation sample, so its decisions are as sure) when a planned one no longer fits. When not even
            # that fits, stop cleanly rather than mid-iteration.
            train_size, selection = len(self._data.train), config.selection
            lean = remainder_shape(self._plan.shape, remaining, train_size=train_size, selection=selection)
            if lean is None:
                leanest = leanest_iteration_calls(self._plan.shape, train_size=train_size, selection=selection)
                return (
                    f"the {remaining} calls left cannot pay for another iteration "
                    f"({self._plan.calls_per_iteration} planned per iteration, {leanest} for the leanest)"
                )
            state.shape = asdict(lean)
        # Patience saves calls the user would rather keep; when the budget is what limits the search (its plan
        # buys fewer iterations than configured), the user has set aside those calls for it, so they are spent.
        budget_bound = self._plan.iterations < config.iteration_limit
        if not budget_bound and state.iterations_without_improvement >= config.patience:
            return f"no improvement in {config.patience} iterations (patience)"
        score = state.incumbent.validation_score
        if config.target_score is not None and score is not None and score >= config.target_score:
            return f"reached the target score {config.target_score:g} (validation {score:.3f})"
        return ""

    def _run_step(self, state: EngineState, iteration: int, step: StepName) -> StepRecord:
        record = StepRecord(iteration=iteration, step=step)
        handlers = {
            "primary_inference": self._primary_inference,
            "evaluation": self._evaluation,
            "proposal": self._proposal,
            "refined_inference": self._refined_inference,
            "second_evaluation": self._second_evaluation,
        }
        handlers[step](state, record)
        return record

    def _shape(self, state: EngineState) -> SearchShape:
        """This iteration's shape: the plan's, or the leaner one the budget's remainder pays for."""
        return SearchShape(**state.shape) if state.shape else self._plan.shape

    def _parent(self, state: EngineState) -> CandidateState:
        """The prompt this iteration proposes from (primary inference chose it): the incumbent, or another
        prompt of the beam's Pareto front over validation rows."""
        if state.parent_key and state.parent_key != state.incumbent.key:
            for candidate in state.beam:
                if candidate.key == state.parent_key:
                    return candidate
        return state.incumbent

    def _rng(self, iteration: int, purpose: str) -> random.Random:
        # A string seed is hashed deterministically (not with PYTHONHASHSEED), so reruns and resumes agree.
        return random.Random(f"{self._config.seed}:{iteration}:{purpose}")  # noqa: S311 - search, not secrets

    # 1. Primary inference: the iteration's parent (the incumbent, or another prompt of the beam's Pareto front)
    # on a fresh seeded minibatch of the train split.
    def _primary_inference(self, state: EngineState, record: StepRecord) -> None:
        parent = state.incumbent
        if self._config.parents == "pareto":
            parent = parent_choice(state.incumbent, state.beam, self._rng(record.iteration, "parent"))
        state.parent_key = parent.key
        shape = self._shape(state)
        size = min(shape.minibatch_size, len(self._data.train))
        minibatch = self._rng(record.iteration, "minibatch").sample(list(self._data.train), size)
        outputs = self._scorer.infer(self.bounded(parent.prompt()), minibatch)
        state.minibatch_ids = [example.id for example in minibatch]
        state.incumbent_outputs = outputs
        state.proposals, state.survivors = [], []
        record.summary = _call_summary(outputs) | {"examples": len(minibatch)}
        if parent.key != state.incumbent.key:
            record.summary["parent"] = parent.key[:8]
        if state.shape:
            record.summary["lean_shape"] = dict(state.shape)

    # 2. Evaluation: the metric scores those outputs; failures (with feedback) are what the optimizer reads.
    def _evaluation(self, state: EngineState, record: StepRecord) -> None:
        scored = self._scorer.evaluate(state.incumbent_outputs, self._examples)
        state.incumbent_outputs = scored
        parent = self._parent(state)
        parent.minibatch_score = mean_score(scored)
        known = {demo["example_id"] for demo in state.bootstrapped_demos}
        for item in scored:
            if item.score == 1.0 and item.example_id not in known and len(known) < MAX_BOOTSTRAPPED_DEMOS:
                state.bootstrapped_demos.append({"example_id": item.example_id, "output": item.output})
                known.add(item.example_id)
        record.predictions = [(parent.key, item) for item in scored]
        failures = [item for item in scored if item.score is not None and item.score < 1.0]
        record.summary = {
            "score": parent.minibatch_score,
            "failures": len(failures),
            "unscored": sum(item.score is None for item in scored),
            "feedback": [item.feedback for item in failures[:3] if item.feedback],
        }

    # 3. Optimizer proposals: the strategy mix proposes new candidates from train data and scores only.
    def _proposal(self, state: EngineState, record: StepRecord) -> None:
        context = self._proposal_context(state, record.iteration)
        seen = {state.incumbent.key, state.baseline.key, state.parent_key, *(entry.key for entry in state.history)}
        proposals: list[CandidateState] = []
        by_strategy: dict[str, int] = {}
        wanted = self._shape(state).candidates_per_iteration
        # Beside the strategies' candidates, not instead of one: it costs no call on train (refined inference).
        trimmed = self._bound_proposal(state)
        if trimmed is not None and trimmed.key not in seen:
            seen.add(trimmed.key)
            proposals.append(trimmed)
            by_strategy[trimmed.strategy] = 1
        for strategy, count in allocate(self._strategies, wanted, record.iteration):
            if count <= 0:
                continue
            for proposal in strategy.propose(context, count):
                if proposal.content.key in seen:
                    continue
                seen.add(proposal.content.key)
                proposals.append(
                    CandidateState.of(
                        proposal.content,
                        strategy=proposal.strategy,
                        rationale=proposal.rationale,
                        params=dict(proposal.params),
                    )
                )
                by_strategy[proposal.strategy] = by_strategy.get(proposal.strategy, 0) + 1
        state.proposals = proposals
        record.candidates = [candidate.model_copy(deep=True) for candidate in proposals]
        record.summary = {"proposed": len(proposals), "by_strategy": by_strategy}
        if context.answer_names:
            record.summary["answer_names"] = list(context.answer_names)

    def _bound_proposal(self, state: EngineState) -> CandidateState | None:
        """The baseline within the output bound, proposed when the baseline is the parent and the bound changes
        it. On train it is the parent as run there, so train cannot judge it; on validation it races the
        baseline as written like any proposal, and is kept only beyond noise."""
        parent = self._parent(state)
        if parent.key != state.baseline.key or not state.baseline_as_written:
            return None
        content = self.bounded(parent.prompt())
        if content.key == parent.key:
            return None
        one_line = LINE_END in content.stop and LINE_END not in parent.prompt().stop
        rationale = f"the prompt as written, its answers cut at {content.max_tokens} tokens" + (
            " and at the first line break" if one_line else ""
        )
        return CandidateState.of(
            content,
            strategy=BOUND_STRATEGY,
            rationale=rationale + " (what the train targets need)",
            params={"max_tokens": content.max_tokens, "one_line": one_line},
        )

    def _proposal_context(self, state: EngineState, iteration: int) -> ProposalContext:
        observations = []
        for item in sorted(state.incumbent_outputs, key=lambda scored: (scored.score or 0.0, scored.example_id)):
            if item.score is None:
                continue
            example = self._examples[item.example_id]
            observations.append(
                Observation(
                    inputs=example.inputs,
                    expected=example.expected,
                    output=item.output,
                    score=item.score,
                    feedback=item.feedback,
                )
            )
        history = sorted(
            (_history_entry(candidate) for candidate in state.history if _best_score(candidate) is not None),
            key=lambda entry: -entry.score,
        )
        train_ids = {example.id for example in self._data.train}
        demos = tuple(
            (self._examples[demo["example_id"]].inputs, demo["output"])
            for demo in state.bootstrapped_demos
            if demo["example_id"] in train_ids
        )
        parent = self._parent(state)
        return ProposalContext(
            incumbent=parent.prompt(),
            incumbent_score=parent.minibatch_score or 0.0,
            observations=tuple(observations),
            train=self._data.train,
            history=tuple(history),
            labels=self._labels,
            input_fields=self._data.input_fields,
            bootstrapped_demos=demos,
            provider_scores_choices=self._provider_scores_choices,
            iteration=iteration,
            seed=self._config.seed * 1_000 + iteration,
            optimizer=self._optimizer,
            answer_names=self._answer_names(state),
        )

    def _answer_names(self, state: EngineState) -> tuple[str, ...]:
        """Names the task model gives the answer when shown train pairs: asked at the first proposal step (only
        if a strategy of the mix uses them), then kept in the checkpoint."""
        if state.answer_names is None:
            names: tuple[str, ...] = ()
            if any(getattr(strategy, "uses_answer_names", False) for strategy in self._strategies):
                prompts = naming_prompts(self._data.train, seed=self._config.seed)
                names = agreed_names(self._scorer.complete(prompts, max_tokens=NAMING_MAX_TOKENS))
            state.answer_names = list(names)
        return tuple(state.answer_names)

    # 4. Refined inference: candidates on the same minibatch (paired), more examples for the promising ones.
    def _refined_inference(self, state: EngineState, record: StepRecord) -> None:
        if not state.proposals:
            record.skipped = True
            record.summary = {"skipped": "no proposals"}
            return
        searched = [candidate for candidate in state.proposals if candidate.strategy != BOUND_STRATEGY]
        trimmed = [candidate for candidate in state.proposals if candidate.strategy == BOUND_STRATEGY]
        minibatch = [self._examples[example_id] for example_id in state.minibatch_ids]
        extension = [example for example in self._data.train if example.id not in set(state.minibatch_ids)]
        self._rng(record.iteration, "extension").shuffle(extension)
        parent_scores = {item.example_id: item.score for item in state.incumbent_outputs}
        select = self._halving if self._config.selection == "halving" else self._ucb
        scores = select(state, record, searched, minibatch, extension, parent_scores) if searched else {}

        ranked = []
        for candidate in searched:
            candidate_scores = scores.get(candidate.key, {})
            candidate.minibatch_score = _mean(candidate_scores.values())
            parent_mean = _mean(parent_scores.get(example_id) for example_id in candidate_scores)
            if candidate.minibatch_score is not None:
                ranked.append((candidate.minibatch_score, parent_mean, candidate))
        ranked.sort(key=lambda item: -item[0])
        # A candidate goes on to validation only if it did at least as well as its parent on the same
        # examples: validation rows are the expensive part, and a candidate behind on train rarely wins there.
        # A tie at zero is no evidence (neither got a row right), so it does not earn validation either; the
        # calls saved pay for more iterations.
        state.survivors = [
            candidate.key
            for score, parent_mean, candidate in ranked
            if parent_mean is None or score > parent_mean or (score == parent_mean and score > 0)
        ][: self._shape(state).survivors]
        self._trimmed_survivors(state, trimmed)
        record.candidates = [candidate.model_copy(deep=True) for candidate in state.proposals]
        record.summary = {
            "parent": self._parent(state).minibatch_score,
            "scores": {candidate.key[:8]: candidate.minibatch_score for _s, _b, candidate in ranked},
            "survivors": [key[:8] for key in state.survivors],
            "selection": self._config.selection,
        }

    def _trimmed_survivors(self, state: EngineState, trimmed: Sequence[CandidateState]) -> None:
        """The trimmed baseline is its parent as run on train: it takes that score, and a validation slot the
        strategies' candidates left free (a slot the plan paid for), unless the parent got nothing right on
        train (no evidence that trimming leaves a right answer to find)."""
        parent = self._parent(state)
        for candidate in trimmed:
            candidate.minibatch_score = parent.minibatch_score
            if (parent.minibatch_score or 0.0) > 0 and len(state.survivors) < self._shape(state).survivors:
                state.survivors.append(candidate.key)

    def _score_into(
        self,
        record: StepRecord,
        scores: dict[str, dict[int, float | None]],
        candidate: CandidateState,
        examples: Sequence[EngineExample],
    ) -> None:
        scored = self._scorer.score(self.bounded(candidate.prompt()), examples)
        record.predictions.extend((candidate.key, item) for item in scored)
        scores.setdefault(candidate.key, {}).update({item.example_id: item.score for item in scored})

    def _score_parent_on(
        self,
        state: EngineState,
        record: StepRecord,
        batch: Sequence[EngineExample],
        parent_scores: dict[int, float | None],
    ) -> None:
        """The parent on rows a candidate got beyond the minibatch, so every comparison stays paired."""
        missing = [example for example in batch if example.id not in parent_scores]
        if not missing:
            return
        parent = self._parent(state)
        scored = self._scorer.score(self.bounded(parent.prompt()), missing)
        record.predictions.extend((parent.key, item) for item in scored)
        parent_scores.update({item.example_id: item.score for item in scored})

    def _halving(
        self,
        state: EngineState,
        record: StepRecord,
        candidates: list[CandidateState],
        minibatch: list[EngineExample],
        extension: list[EngineExample],
        parent_scores: dict[int, float | None],
    ) -> dict[str, dict[int, float | None]]:
        """Successive halving: everyone on the minibatch, then the better half on more train rows, and so on."""
        scores: dict[str, dict[int, float | None]] = {}
        active = list(candidates)
        batch = minibatch
        survivors = self._shape(state).survivors
        while True:
            for candidate in active:
                self._score_into(record, scores, candidate, batch)
            if len(active) <= survivors or not extension:
                return scores
            active.sort(key=lambda candidate: -(_mean(scores[candidate.key].values()) or 0.0))
            active = active[: max(survivors, math.ceil(len(active) / 2))]
            batch, extension = extension[: len(minibatch)], extension[len(minibatch) :]
            self._score_parent_on(state, record, batch, parent_scores)

    def _ucb(
        self,
        state: EngineState,
        record: StepRecord,
        candidates: list[CandidateState],
        minibatch: list[EngineExample],
        extension: list[EngineExample],
        parent_scores: dict[int, float | None],
    ) -> dict[str, dict[int, float | None]]:
        """UCB1 bandit: after the minibatch, extra rows go to the candidate with the highest upper bound."""
        scores: dict[str, dict[int, float | None]] = {}
        for candidate in candidates:
            self._score_into(record, scores, candidate, minibatch)
        pull_size = max(1, len(minibatch) // 2)
        pulls = len(candidates)  # extra pulls: one per candidate on average
        position = dict.fromkeys((candidate.key for candidate in candidates), 0)
        for _ in range(pulls):
            total = sum(len(values) for values in scores.values())
            best = max(candidates, key=lambda candidate: _upper_bound(scores[candidate.key], total))
            start = position[best.key]
            batch = extension[start : start + pull_size]
            if not batch:
                break
            position[best.key] = start + len(batch)
            self._score_into(record, scores, best, batch)
            self._score_parent_on(state, record, batch, parent_scores)
        return scores

    # 5. Second evaluation: survivors on validation; a survivor replaces the incumbent only beyond noise.
    def _second_evaluation(self, state: EngineState, record: StepRecord) -> None:
        looks = self._plan.look_sizes()
        self._validate(state, state.incumbent, looks[0], record)
        proposals = {candidate.key: candidate for candidate in state.proposals}
        verdicts: list[dict[str, Any]] = []
        best: tuple[float, CandidateState, Any] | None = None
        for position, key in enumerate(state.survivors):
            candidate = proposals[key]
            later = len(state.survivors) - position - 1
            verdict, comparison = self._race(state, candidate, record, later_survivors=later)
            verdicts.append(verdict)
            score = candidate.validation_score
            if verdict["accepted"] and score is not None and (best is None or score > best[0]):
                best = (score, candidate, comparison)
        if state.incumbent.key == state.baseline.key:
            state.baseline = state.incumbent.model_copy(deep=True)
        record.summary = {
            "incumbent": state.incumbent.validation_score,
            "candidates": verdicts,
            "accepted": None,
            "validation_looks": looks,
        }
        state.history.extend(candidate.model_copy(deep=True) for candidate in state.proposals)
        previous_incumbent = state.incumbent
        if best is not None:
            _score, winner, comparison = best
            state.acceptances.append(
                Acceptance(
                    iteration=record.iteration,
                    key=winner.key,
                    strategy=winner.strategy,
                    rationale=winner.rationale,
                    validation_score=winner.validation_score or 0.0,
                    gain=comparison.difference.mean,
                    gain_low=comparison.difference.low,
                    gain_high=comparison.difference.high,
                )
            )
            state.incumbent = winner.model_copy(deep=True)
            state.iterations_without_improvement = 0
            record.accepted_key = winner.key
            record.summary["accepted"] = winner.key[:8]
        else:
            state.iterations_without_improvement += 1
        # Of two copies of one prompt (an incumbent and its beam entry), the one scored on more rows stays. The
        # beam holds copies: a checkpoint cannot share objects, so neither may the search it resumes.
        unique: dict[str, CandidateState] = {}
        validated = (previous_incumbent, state.incumbent, *state.beam, *(proposals[key] for key in state.survivors))
        for candidate in validated:
            if candidate.validation_score is None:
                continue
            kept = unique.get(candidate.key)
            if kept is None or len(candidate.validation) > len(kept.validation):
                unique[candidate.key] = candidate
        ranked = sorted(unique.values(), key=lambda candidate: -(candidate.validation_score or 0.0))
        state.beam = [candidate.model_copy(deep=True) for candidate in ranked[: self._config.beam_size]]
        record.candidates = [proposals[key].model_copy(deep=True) for key in state.survivors]
        if not state.survivors:
            record.summary["note"] = "no candidate kept up with its parent on train (a tie at zero does not count)"

    def _validate(self, state: EngineState, candidate: CandidateState, rows: int, record: StepRecord) -> None:
        """Score `candidate` on the first `rows` validation rows it has not been scored on yet. Rows the budget
        stopped before they were sent stay unscored, so a resumed run scores them then."""
        missing = self._unscored(candidate, rows)
        if not missing:
            return
        scored = [item for item in self._scorer.score(self.validated(state, candidate), missing) if not item.not_run]
        record.predictions.extend((candidate.key, item) for item in scored)
        candidate.validation.update({item.example_id: item.score for item in scored})
        candidate.validation_tokens.update({item.example_id: item.input_tokens for item in scored if item.input_tokens})
        candidate.validation_score = _mean(candidate.validation.values())

    def _race(
        self, state: EngineState, candidate: CandidateState, record: StepRecord, *, later_survivors: int
    ) -> tuple[dict[str, Any], Any]:
        """Compare on the first look's rows; while the decision is close (a gain whose interval still reaches
        zero) and the budget can spare it without cutting the plan short, look again on twice the rows. The
        error rate 1 - confidence is split across all possible looks in proportion to their rows (a Bonferroni
        split weighted towards the larger samples, where small gains can be told from noise), so the chance of
        accepting a candidate that is not better stays within 1 - confidence however many looks are taken."""
        looks = self._plan.look_sizes()
        for index, rows in enumerate(looks):
            self._validate(state, state.incumbent, rows, record)
            self._validate(state, candidate, rows, record)
            confidence = look_confidence(self._config.confidence, looks, index)
            verdict, comparison, close = self._verdict(state.incumbent, candidate, rows, confidence=confidence)
            verdict["looks"] = index + 1
            if not close or index + 1 == len(looks):
                return verdict, comparison
            # What the next look still needs: the incumbent's rows are often scored already (an earlier candidate).
            following = looks[index + 1]
            extra = len(self._unscored(state.incumbent, following)) + len(self._unscored(candidate, following))
            if not self._can_spare(extra, later_survivors=later_survivors):
                verdict["reason"] = "gain within noise (the budget cannot pay for a larger sample)"
                return verdict, comparison
        raise AssertionError("unreachable: the last look returns")

    def _unscored(self, candidate: CandidateState, rows: int) -> list[EngineExample]:
        """The first `rows` validation rows this candidate has not been scored on yet."""
        return [example for example in self._validation_order[:rows] if example.id not in candidate.validation]

    def _can_spare(self, calls: int, *, later_survivors: int) -> bool:
        """Settling a close decision comes before later iterations (a confirmed gain is worth more than more
        exploration), but not before this iteration's other survivors get their first look."""
        remaining = self._remaining_calls()
        if remaining is None:
            return True
        return remaining - calls >= later_survivors * self._plan.validation_rows

    def _verdict(
        self, incumbent: CandidateState, candidate: CandidateState, rows: int, *, confidence: float
    ) -> tuple[dict[str, Any], Any, bool]:
        """The decision on the first `rows` validation rows, and whether it is close enough to look again."""
        ids = [example.id for example in self._validation_order[:rows]]
        complete = all(example_id in candidate.validation and example_id in incumbent.validation for example_id in ids)
        shared = [
            example_id
            for example_id in ids
            if candidate.validation.get(example_id) is not None and incumbent.validation.get(example_id) is not None
        ]
        verdict: dict[str, Any] = {
            "key": candidate.key[:8],
            "score": candidate.validation_score,
            "accepted": False,
            "rows": len(shared),
        }
        if len(shared) < 2:
            verdict["reason"] = "too few validation rows scored"
            return verdict, None, False
        comparison = compare_paired(
            [incumbent.validation[example_id] or 0.0 for example_id in shared],
            [candidate.validation[example_id] or 0.0 for example_id in shared],
            confidence=confidence,
            seed=self._config.seed,
        )
        gain = comparison.difference
        beyond_noise = gain.low > 0 or (self._config.min_gain is not None and gain.mean >= self._config.min_gain)
        verdict.update(gain=gain.mean, gain_low=gain.low, gain_high=gain.high, p_value=comparison.mcnemar_p)
        if not complete:
            verdict["reason"] = "validation incomplete (budget)"
            return verdict, comparison, False
        if beyond_noise:
            verdict["accepted"] = True
            return verdict, comparison, False
        verdict["reason"] = "gain within noise"
        return verdict, comparison, gain.mean > 0


def look_confidence(confidence: float, looks: Sequence[int], index: int) -> float:
    """The confidence level of look `index`: its share of the error rate is its share of all looks' rows."""
    return 1.0 - (1.0 - confidence) * looks[index] / sum(looks)


def _upper_bound(values: dict[int, float | None], total_pulls: int) -> float:
    """UCB1: the mean plus an exploration bonus that shrinks as a candidate gets more rows."""
    return (_mean(values.values()) or 0.0) + math.sqrt(2 * math.log(total_pulls) / len(values))


def _mean(values: Any) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def _best_score(candidate: CandidateState) -> float | None:
    return candidate.validation_score if candidate.validation_score is not None else candidate.minibatch_score


def _history_entry(candidate: CandidateState) -> HistoryEntry:
    validated = candidate.validation_score is not None
    return HistoryEntry(
        content=candidate.prompt(),
        score=_best_score(candidate) or 0.0,
        strategy=candidate.strategy,
        scored_on="validation" if validated else "minibatch",
        params=candidate.params,
    )


def _call_summary(outputs: Sequence[Scored]) -> dict[str, Any]:
    return {
        "cached": sum(item.cached for item in outputs),
        "failed": sum(bool(item.error) for item in outputs),
    }
