"""`manage.py optimize --team T --prompt REF --dataset SLUG`: run an optimization in the foreground, with a report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from promptopt.errors import PromptOptError
from prompts.management.commands._options import error_messages, resolve_actor, resolve_team
from prompts.selectors import version_resolve
from workflows.engine.config import RUN_OPTION_FIELDS, run_config_from_options
from workflows.engine.state import StepName
from workflows.management.commands._options import (
    add_version_and_dataset_arguments,
    dataset_version_option,
    json_object_option,
    metric_option,
    output_file_option,
)
from workflows.models import IterationStep, JobStatus
from workflows.run_outputs import RunEstimateOut, RunReport
from workflows.run_report import plan_text, report_text
from workflows.run_runner import run_execute
from workflows.services import run_abandon, run_create


class StepBars:
    """One progress bar per step (and one for the final test), on stderr so the report stays clean."""

    def __init__(self) -> None:
        self._bar: tqdm[Any] | None = None

    def _open(self, description: str, total: int | None) -> None:
        self.close()
        self._bar = tqdm(total=total, desc=description, unit="row", disable=None, file=sys.stderr, leave=True)

    def step_started(self, iteration: int, step: StepName) -> None:
        self._open(f"iteration {iteration} · {IterationStep(kind=step).get_kind_display()}", None)

    def examples_done(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def phase(self, name: str, total: int) -> None:
        self._open(name, total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Command(BaseCommand):
    help = "Optimize a prompt version on a dataset and print baseline and winner scores on the held-out test split."

    def add_arguments(self, parser: CommandParser) -> None:
        add_version_and_dataset_arguments(parser)
        parser.add_argument("--metric", help="Metric name or JSON config. Default: normalized_match.")
        parser.add_argument(
            "--strategy",
            action="append",
            help="auto (default), mutations, demos, critique, history, vertex; repeat to mix several.",
        )
        parser.add_argument(
            "--iterations",
            type=int,
            help="Most iterations of the five steps (default: as many as --max-calls pays for, else 4).",
        )
        parser.add_argument("--patience", type=int, help="Stop after this many iterations without improvement.")
        parser.add_argument("--target-score", type=float, help="Stop once the validation score reaches this.")
        parser.add_argument("--candidates", type=int, help="Candidates proposed per iteration (default 6).")
        parser.add_argument("--minibatch", type=int, help="Train rows per minibatch (default 8).")
        parser.add_argument("--min-gain", type=float, help="Also accept a mean validation gain of this much.")
        parser.add_argument(
            "--prefer",
            choices=("best", "shorter"),
            help="The winner: the best on validation (default), or the prompt with the fewest prompt tokens among "
            "those within noise of the best that beat the baseline beyond noise.",
        )
        parser.add_argument("--max-calls", type=int, help="Most provider calls, final test included.")
        parser.add_argument("--max-tokens", type=int, help="Most tokens (input + output).")
        parser.add_argument("--max-cost", type=float, help="Most cost in USD.")
        parser.add_argument("--max-seconds", type=float, help="Most wall time in seconds.")
        parser.add_argument("--seed", type=int, help="Seed for minibatches, strategies and bootstrap (default 0).")
        parser.add_argument("--task-provider", help="Provider of the task model (default: the version's).")
        parser.add_argument("--task-model", help="Task model (default: the version's).")
        parser.add_argument("--optimizer-provider", help="Provider of the model that rewrites prompts.")
        parser.add_argument("--optimizer-model", help="The model that rewrites prompts.")
        parser.add_argument("--config", help="A JSON run config; the options above override its fields.")
        parser.add_argument("--json", type=Path, help="Also write the report (with the winning prompt) as JSON.")
        parser.add_argument("--as", dest="username", help="Act as this user (with their roles); default: the system.")
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue the run for the background workers, print its id and return (default: run it here).",
        )

    def _config(self, options: dict[str, Any]) -> dict[str, Any]:
        base = json_object_option(options["config"], "--config") if options["config"] is not None else None
        flat = {name: options[name] for name in RUN_OPTION_FIELDS if name not in {"metric", "strategies"}}
        flat["strategies"] = options["strategy"]
        flat["metric"] = metric_option(options["metric"])
        return run_config_from_options(flat, base)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["background"] and options["json"]:
            raise CommandError("--json writes the report of a foreground run; with --background, read it later")
        output_file_option(options["json"], "--json")
        team = resolve_team(options["team"])
        actor = resolve_actor(options["username"], "optimize")
        try:
            version = version_resolve(actor=actor, team=team, reference=options["prompt"])
            dataset_version = dataset_version_option(actor, team, options["dataset"], options["dataset_version"])
            run = run_create(
                team=team,
                version=version,
                dataset_version=dataset_version,
                config=self._config(options),
                actor=actor,
                enqueue=options["background"],
            )
        except (ValidationError, PromptOptError) as error:
            raise CommandError("; ".join(error_messages(error))) from None
        if options["background"]:
            # The id alone on stdout, so a script can take it with $(...); the sentence goes to stderr.
            self.stderr.write(f"Queued run {run.pk} of {version} on {dataset_version} for the background workers")
            self.stdout.write(str(run.pk))
            return

        estimate = RunEstimateOut.model_validate(run.estimate)
        cost = estimate.cost_usd
        self.stdout.write(
            f"Optimizing {version} on {dataset_version}: run {run.pk}\n"
            f"  estimate before the start (most, no cache hits): {estimate.calls} calls "
            f"({estimate.test_calls} of them for the final test), {estimate.tokens} tokens, "
            + (f"${cost:.4f}" if cost is not None else "cost unknown (no price for this model)")
            + (" — capped by the budget" if estimate.capped_by_budget else "")
            + (f"\n  {plan_text(estimate.plan)}" if estimate.plan is not None else "")
        )
        bars = StepBars()
        try:
            finished = run_execute(run_id=run.pk, progress=bars)
        except KeyboardInterrupt:
            # No worker would ever pick this run up again on purpose: Ctrl-C means stop, not "resume later".
            run_abandon(run=run, reason="interrupted from the command line; completed steps are kept")
            raise CommandError(f"run {run.pk} interrupted; its completed steps are kept") from None
        finally:
            bars.close()
        if finished is None:
            raise CommandError(f"run {run.pk} was taken by another worker")
        if not finished.report:
            raise CommandError(f"run {run.pk} {finished.status}: {finished.error_message}")
        report = RunReport.model_validate(finished.report)
        text = report_text(report, status=finished.get_status_display())
        self.stdout.write(self.style.SUCCESS(text) if finished.status == JobStatus.SUCCEEDED else text)
        if finished.error_message:
            self.stdout.write(self.style.WARNING(finished.error_message))
        if options["json"]:
            data = {"status": finished.status, **finished.report}
            options["json"].write_text(json.dumps(data, indent=2), encoding="utf-8")
            self.stdout.write(f"report written to {options['json']}")
