"""`manage.py evaluate --team T --prompt REF --dataset SLUG --split test`: score a version in the foreground."""

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
from prompts.splits import Split
from workflows.evaluation_config import evaluation_config_from_options
from workflows.evaluation_runner import evaluation_execute
from workflows.management.commands._options import (
    add_version_and_dataset_arguments,
    dataset_version_option,
    metric_option,
    output_file_option,
)
from workflows.services import evaluation_create


class Command(BaseCommand):
    help = "Evaluate a prompt version on a dataset split and print the score with its confidence interval."

    def add_arguments(self, parser: CommandParser) -> None:
        add_version_and_dataset_arguments(parser)
        parser.add_argument("--split", choices=[s.value for s in Split], default=Split.TEST.value)
        parser.add_argument(
            "--metric", help="Metric name or JSON config. Default: choice for choice outputs, otherwise any_answer."
        )
        parser.add_argument("--provider", help="Override the version's provider (local, vertex, huggingface).")
        parser.add_argument("--model", help="Override the version's model.")
        parser.add_argument("--max-calls", type=int, help="Stop after this many provider calls (a judge's too).")
        parser.add_argument("--fresh", action="store_true", help="Ignore cached answers and ask the model again.")
        parser.add_argument("--json", type=Path, help="Also write the results to this file as JSON.")
        parser.add_argument("--as", dest="username", help="Act as this user (with their roles); default: the system.")
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue the evaluation for the background workers, print its id and return.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["background"] and options["json"]:
            raise CommandError("--json writes the result of a foreground evaluation; with --background, read it later")
        output_file_option(options["json"], "--json")
        team = resolve_team(options["team"])
        actor = resolve_actor(options["username"], "evaluate")
        try:
            version = version_resolve(actor=actor, team=team, reference=options["prompt"])
            dataset_version = dataset_version_option(actor, team, options["dataset"], options["dataset_version"])
            config = evaluation_config_from_options(
                metric=metric_option(options["metric"]),
                provider=options["provider"],
                model=options["model"],
                max_calls=options["max_calls"],
                fresh=options["fresh"],
            )
            evaluation = evaluation_create(
                team=team,
                version=version,
                dataset_version=dataset_version,
                split=Split(options["split"]),
                config=config,
                actor=actor,
                enqueue=options["background"],
            )
        except (ValidationError, PromptOptError) as error:
            raise CommandError("; ".join(error_messages(error))) from None
        if options["background"]:
            self.stderr.write(f"Queued evaluation {evaluation.pk} of {version} for the background workers")
            self.stdout.write(str(evaluation.pk))
            return

        self.stdout.write(f"Evaluating {version} on {dataset_version} ({options['split']}), evaluation {evaluation.pk}")
        with tqdm(total=None, unit="example", disable=None, file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            outcome = evaluation_execute(evaluation_id=evaluation.pk, on_progress=progress)
        if outcome is None:
            raise CommandError(f"evaluation {evaluation.pk} was taken by another worker")
        result = outcome.evaluation
        summary = {
            "evaluation": result.pk,
            "status": result.status,
            "prompt": str(version),
            "dataset": str(dataset_version),
            "split": result.split,
            "metric": result.config["metric"],
            "examples": result.example_count,
            "scored": result.scored_count,
            "score": result.score,
            "interval_95": [result.score_ci_low, result.score_ci_high],
            "calls": result.calls,
            "cached_calls": result.cached_calls,
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "cost_usd": float(result.cost_usd),
            "wall_seconds": round(outcome.wall_seconds, 2),
            "error": result.error_message,
        }
        if result.score is not None:
            self.stdout.write(
                self.style.SUCCESS(
                    f"score {result.score:.3f} (95% interval {result.score_ci_low:.3f} to {result.score_ci_high:.3f}), "
                    f"{result.scored_count} of {result.example_count} examples scored"
                )
            )
        self.stdout.write(
            f"status {result.status}; calls {result.calls}, cached calls {result.cached_calls}, "
            f"tokens {result.input_tokens} in / {result.output_tokens} out, "
            f"cost ${float(result.cost_usd):.4f}, wall time {outcome.wall_seconds:.1f}s"
        )
        if result.error_message:
            self.stdout.write(self.style.WARNING(result.error_message))
        if options["json"]:
            options["json"].write_text(json.dumps(summary, indent=2), encoding="utf-8")
        if result.status == "failed":
            raise CommandError(f"evaluation {result.pk} failed: {result.error_message}")
