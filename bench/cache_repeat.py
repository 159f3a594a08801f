"""Response cache: a repeated 200-example evaluation on the local model vs the first run, through Django.

Target (issue 3, Performance): a repeated evaluation of 200 examples finishes at least 50x faster than the
first, with 0 provider calls.

This drives what a user gets from `manage.py evaluate`: a fresh SQLite database in a temporary DATA_DIR
(migrated here), a team, a prompt and a dataset created through the services, then
`evaluation_create(enqueue=False)` + `evaluation_execute` twice on the same version, dataset and split. The
first run calls the embedded SmolLM2 model (completion layout, greedy, small max_tokens) and fills the team's
`LLMCallCache`; the second must answer everything from it. Each repetition uses a new team, whose cache starts
empty. The provider the runner builds is wrapped in a counter, so "0 provider calls" is checked at the
provider itself and not only from the evaluation's own usage figures. The model is loaded (one untimed call)
before the first repetition, so no first run pays the one-off load of about 0.25 s.

Run: .venv/bin/python bench/cache_repeat.py [--repeat 3] [--examples 200] [--max-tokens 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _support import benchmark_actor, django_setup, invocation, machine_header, median, sentiment_rows, table

TARGET_RATIO = 50.0
TEMPLATE = "Review: {{input}}\nSentiment:"


class CountingProvider:
    """Passes requests to the real provider and counts how many reach it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name
        self.requests = 0

    @property
    def model_name(self) -> str:
        return str(self._inner.model_name)

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        self.requests += len(requests)
        return list(self._inner.generate(requests))


@dataclass(frozen=True)
class RunFigures:
    wall_seconds: float  # evaluation_create + evaluation_execute, as the evaluate command spends it
    status: str
    scored: int
    score: float | None
    calls: int
    cached_calls: int
    provider_requests: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="first-run/repeat pairs, each on a new team (default 3)")
    parser.add_argument("--examples", type=int, default=200, help="examples evaluated (default 200)")
    parser.add_argument("--max-tokens", type=int, default=4, help="the version's max_tokens (default 4)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="promptopt-bench-cache-") as data_dir:
        django_setup(Path(data_dir))
        pairs = run_pairs(args)

    ratios = [first.wall_seconds / repeat.wall_seconds for first, repeat in pairs]
    firsts = [first.wall_seconds for first, _ in pairs]
    repeats = [repeat.wall_seconds for _, repeat in pairs]
    repeat_calls = sum(repeat.calls + repeat.provider_requests for _, repeat in pairs)

    print(machine_header(invocation()))
    print(
        f"workload: {args.examples} APE sentiment reviews, local SmolLM2 GGUF, completion layout, greedy, "
        f"max_tokens {args.max_tokens}; fresh SQLite database in a temporary DATA_DIR\n"
    )
    rows = []
    for rep, pair in enumerate(pairs, start=1):
        for label, run in zip(("first", "repeat"), pair, strict=True):
            rows.append(
                (
                    rep,
                    label,
                    f"{run.wall_seconds:.3f}",
                    run.status,
                    run.scored,
                    f"{run.score:.3f}" if run.score is not None else "-",
                    run.calls,
                    run.cached_calls,
                    run.provider_requests,
                )
            )
    print(
        table(
            ["rep", "run", "wall s", "status", "scored", "score", "calls", "cached calls", "requests at provider"],
            rows,
        )
    )
    print()
    print(
        f"median wall time: first {median(firsts):.3f} s, repeat {median(repeats):.3f} s; "
        f"speed-up median {median(ratios):.1f}x (per repetition: {', '.join(f'{r:.1f}' for r in ratios)})"
    )
    met = median(ratios) >= TARGET_RATIO and repeat_calls == 0
    print(
        f"provider calls in repeated runs: {repeat_calls}; target >= {TARGET_RATIO:.0f}x with 0 calls: "
        f"{'met' if met else 'MISSED'}"
    )


def run_pairs(args: argparse.Namespace) -> list[tuple[RunFigures, RunFigures]]:
    # Imported only after django_setup: models need configured settings.
    import workflows.evaluation_runner as runner
    from accounts.services import team_create
    from prompts.content import PromptContent
    from prompts.importers import ImportOptions, parse_split_map
    from prompts.models import Layout
    from prompts.rendering import render
    from prompts.services import dataset_version_import, prompt_create
    from prompts.splits import Split
    from workflows.gateway.types import GenerationRequest
    from workflows.services import evaluation_create

    real_provider_build = runner.provider_build
    counting: list[CountingProvider] = []

    def counting_provider_build(**kwargs: Any) -> CountingProvider:
        provider = CountingProvider(real_provider_build(**kwargs))
        counting.append(provider)
        return provider

    # Only within this process, and only to count: the runner still builds and calls the real local provider.
    runner.provider_build = counting_provider_build

    # The JSONL content is built in memory from the shared file; nothing is copied into the project.
    content = "\n".join(json.dumps(row) for row in sentiment_rows(args.examples)).encode()
    options = ImportOptions(input_fields=("input",), split_map=parse_split_map("induce=test,execute=test"))

    # Load the model once, untimed, so that the first run of repetition 1 does not pay for it alone.
    warm_up = GenerationRequest(prompt=render(PromptContent(template=TEMPLATE), {"input": "fine"}), max_tokens=1)
    real_provider_build(name="local").generate([warm_up])

    def evaluate(team: Any, version: Any, dataset_version: Any) -> RunFigures:
        started = time.perf_counter()
        evaluation = evaluation_create(
            team=team,
            version=version,
            dataset_version=dataset_version,
            split=Split.TEST,
            config={"metric": {"name": "normalized_match"}},
            actor=benchmark_actor(),
            enqueue=False,
        )
        outcome = runner.evaluation_execute(evaluation_id=evaluation.pk)
        elapsed = time.perf_counter() - started
        if outcome is None:
            raise SystemExit(f"evaluation {evaluation.pk} was not claimed")
        result = outcome.evaluation
        return RunFigures(
            wall_seconds=elapsed,
            status=result.status,
            scored=result.scored_count,
            score=result.score,
            calls=result.calls,
            cached_calls=result.cached_calls,
            provider_requests=counting[-1].requests,
        )

    pairs = []
    for rep in range(1, args.repeat + 1):
        # A new team per repetition: the cache is shared within a team, so this one starts empty.
        team = team_create(name=f"Bench cache {rep}", actor=benchmark_actor())
        prompt = prompt_create(
            team=team,
            name="Sentiment",
            actor=benchmark_actor(),
            first_version=PromptContent(template=TEMPLATE, layout=Layout.COMPLETION, max_tokens=args.max_tokens),
        )
        version = prompt.versions.get()
        dataset_version = dataset_version_import(
            team=team,
            dataset_name="APE sentiment",
            file_name="ape__sentiment.jsonl",
            content=content,
            options=options,
            actor=benchmark_actor(),
        ).version

        first = evaluate(team, version, dataset_version)
        repeat = evaluate(team, version, dataset_version)
        if first.scored != args.examples:
            raise SystemExit(f"the first run scored {first.scored} of {args.examples} examples ({first.status})")
        pairs.append((first, repeat))
    return pairs


if __name__ == "__main__":
    main()
