"""A finished run's report: scores with intervals, the paired test difference, usage and the prompt diff."""

from __future__ import annotations

from collections.abc import Callable

from prompts.content import PromptContent
from prompts.diff import unified_text_diff
from prompts.models import PromptVersion
from workflows.engine.config import RunConfig
from workflows.engine.final_test import TestReport
from workflows.engine.shorter import WinnerChoice
from workflows.engine.state import CandidateState, EngineState, UsageState
from workflows.models import OptimizationRun
from workflows.run_outputs import (
    ReportAcceptance,
    ReportBaseline,
    ReportPromptCost,
    ReportUsage,
    ReportWinner,
    RunEstimateOut,
    RunReport,
    ScoreInterval,
    SearchPlanOut,
    TestDifference,
)
from workflows.stats import Estimate, mean_with_interval


def _estimate(estimate: Estimate | None) -> ScoreInterval | None:
    if estimate is None:
        return None
    return ScoreInterval(mean=estimate.mean, low=estimate.low, high=estimate.high, n=estimate.n)


def _validation(candidate: CandidateState, config: RunConfig) -> ScoreInterval | None:
    scores = [score for score in candidate.validation.values() if score is not None]
    if not scores:
        return None
    return _estimate(mean_with_interval(scores, confidence=config.confidence, seed=config.seed))


def prompt_diff(baseline: PromptContent, winner: PromptContent) -> str:
    return unified_text_diff(baseline.to_dict(), winner.to_dict(), names=("baseline", "winner"))


def report_build(
    *,
    run: OptimizationRun,
    config: RunConfig,
    state: EngineState,
    choice: WinnerChoice,
    winner: CandidateState,
    as_saved: Callable[[CandidateState], PromptContent],
    test: TestReport,
    winner_version: PromptVersion | None,
    usage: UsageState,
    test_budget_reason: str,
) -> RunReport:
    """`as_saved` gives a prompt as it is tested and saved: the baseline as it is, any other with the output bound
    it was searched under; the report shows the winner, the best and the cheapest that way."""
    baseline, winner_content = state.baseline.prompt(), as_saved(winner)
    comparison = test.comparison
    difference = None
    if comparison is not None:
        interval = comparison.difference
        difference = TestDifference(
            mean=interval.mean,
            low=interval.low,
            high=interval.high,
            n=interval.n,
            wins=comparison.wins,
            losses=comparison.losses,
            ties=comparison.ties,
            mcnemar_p=comparison.mcnemar_p,
        )
    return RunReport(
        run=run.pk,
        stop_reason=state.stop_reason,
        budget_exhausted=state.budget_exhausted or bool(test_budget_reason),
        iterations=state.iteration,
        accepted=[ReportAcceptance(**acceptance.model_dump()) for acceptance in state.acceptances],
        baseline=ReportBaseline(
            version=run.baseline_version.number,
            validation=_validation(state.baseline, config),
            test=_estimate(test.baseline),
        ),
        winner=ReportWinner(
            version=winner_version.number if winner_version else run.baseline_version.number,
            improved=winner.key != baseline.key,
            strategy=winner.strategy,
            rationale=winner.rationale,
            validation=_validation(winner, config),
            test=_estimate(test.winner),
            content=winner_content.to_dict(),
        ),
        test_difference=difference,
        test_examples=test.examples,
        test_complete=test.complete,
        test_budget_reason=test_budget_reason,
        usage=ReportUsage(**usage.model_dump(), wall_seconds=usage.seconds),
        estimate=RunEstimateOut(**run.estimate) if run.estimate else None,
        diff=prompt_diff(baseline, winner_content),
        prefer=config.prefer,
        best=_prompt_cost(choice.best, choice.best_tokens, config, as_saved),
        cheapest_within_noise=(
            _prompt_cost(choice.cheapest, choice.cheapest_tokens, config, as_saved)
            if choice.cheapest is not None
            else None
        ),
    )


def _prompt_cost(
    candidate: CandidateState,
    tokens: float | None,
    config: RunConfig,
    as_saved: Callable[[CandidateState], PromptContent],
) -> ReportPromptCost:
    return ReportPromptCost(
        key=candidate.key[:8],
        validation=_validation(candidate, config),
        prompt_tokens=tokens,
        content=as_saved(candidate).to_dict(),
    )


def _interval(data: ScoreInterval | None) -> str:
    if data is None:
        return "not scored"
    return f"{data.mean:.3f} (95% CI {data.low:.3f} to {data.high:.3f}, n={data.n})"


def report_text(report: RunReport, *, status: str) -> str:
    """The report as the `optimize` command prints it."""
    baseline, winner, usage = report.baseline, report.winner, report.usage
    lines = [
        f"Optimization run {report.run}: {status} — {report.stop_reason}",
        f"  iterations: {report.iterations}, accepted candidates: {len(report.accepted)}",
        f"  baseline (version {baseline.version})",
        f"    validation: {_interval(baseline.validation)}",
        f"    test:       {_interval(baseline.test)}",
    ]
    if winner.improved:
        lines += [
            f"  winner (new version {winner.version}, {winner.strategy}: {winner.rationale})",
            f"    validation: {_interval(winner.validation)}",
            f"    test:       {_interval(winner.test)}",
        ]
        difference = report.test_difference
        if difference is not None:
            p_value = difference.mcnemar_p
            lines.append(
                f"  test difference (winner - baseline): {difference.mean:+.3f} "
                f"(95% CI {difference.low:+.3f} to {difference.high:+.3f}; "
                f"{difference.wins} better, {difference.losses} worse, {difference.ties} same"
                + (f"; McNemar {_p_value_text(p_value)}" if p_value is not None else "")
                + ")"
            )
    else:
        lines.append("  winner: the baseline (no candidate beat it beyond noise on validation)")
    lines += _cost_lines(report)
    if not report.test_complete:
        lines.append(f"  test split not fully scored: {report.test_budget_reason or 'some calls failed'}")
    if report.estimate is not None and report.estimate.planned_task_calls is not None:
        lines.append(
            f"  planned {report.estimate.planned_task_calls} task calls (final test included), spent "
            f"{usage.calls + usage.cached_calls} (cached included)"
        )
    if usage.retries or usage.failed_calls:
        lines.append(
            f"  provider faults: {usage.retries} absorbed by retrying, {usage.failed_calls} calls failed after retries"
        )
    lines.append(
        f"  calls: {usage.calls} to the provider, {usage.cached_calls} answered from the cache; "
        f"tokens: {usage.input_tokens} in, {usage.output_tokens} out; cost: ${usage.cost_usd:.4f}; "
        f"wall time: {usage.wall_seconds:.1f} s"
    )
    if report.diff:
        lines += ["  prompt diff:", *("    " + line for line in report.diff.splitlines())]
    return "\n".join(lines)


def _cost_lines(report: RunReport) -> list[str]:
    """The best prompt and the cheapest within noise of it, with what each costs per call."""
    best, cheapest = report.best, report.cheapest_within_noise
    if best is None or not report.winner.improved:
        return []
    lines = [f"  best on validation: {best.key}, {_tokens_text(best.prompt_tokens)}"]
    if best.prompt_tokens is None:
        lines.append("  cheapest within noise: not chosen (the provider did not count prompt tokens)")
        return lines
    if cheapest is None:
        lines.append("  cheapest within noise: the best itself (no prompt with fewer tokens kept up with it)")
        return lines
    chosen = " (the winner: --prefer shorter)" if report.prefer == "shorter" else " (--prefer shorter would pick it)"
    validation = cheapest.validation.mean if cheapest.validation is not None else None
    lines.append(
        f"  cheapest within noise: {cheapest.key}, {_tokens_text(cheapest.prompt_tokens)}, validation "
        + (f"{validation:.3f}" if validation is not None else "not scored")
        + chosen
    )
    return lines


def _tokens_text(tokens: float | None) -> str:
    return "prompt tokens not counted by the provider" if tokens is None else f"{tokens:.0f} prompt tokens per call"


def _p_value_text(p_value: float) -> str:
    # Four decimals would print a tiny p-value as "0.0000", which reads as an impossible certainty.
    return "p < 0.0001" if p_value < 0.0001 else f"p = {p_value:.4f}"


def plan_text(plan: SearchPlanOut) -> str:
    """The search plan in one line, as the `optimize` command prints it before the start."""
    looks = f", up to {plan.validation_max_rows} for close decisions" if plan.validation_looks > 1 else ""
    return (
        f"plan: {plan.iterations} iteration{'s' if plan.iterations != 1 else ''} of {plan.calls_per_iteration} "
        f"calls ({plan.candidates_per_iteration} candidates on minibatches of {plan.minibatch_size}, "
        f"{plan.survivors} on validation), validation samples of {plan.validation_rows} rows{looks}; "
        f"{plan.baseline_validation_calls} calls for the baseline's validation, "
        + (f"{plan.answer_naming_calls} to name the answer, " if plan.answer_naming_calls else "")
        + f"{plan.test_reserve_calls} kept for the final test"
    )
