"""Prompt-prefix reuse on the local model: one candidate's calls back to back vs two candidates' calls interleaved.

llama-cpp-python keeps the tokens it evaluated last and, on the next completion, re-reads only what follows the
longest shared token prefix. Every candidate prompt starts with its instruction and demonstrations, and only
the example at the end changes from call to call, so the order of calls decides how much of each prompt is
read again. The engine runs a candidate's calls one after another (each step scores one prompt on a batch of
rows: `Scorer.infer` / `Scorer.score`); this script measures what that order saves on a long-input task
against interleaving two candidates row by row, which makes every call re-read its whole prompt.

Workload: `bbh__date_understanding`, a development task, on its OPRO train rows only (inputs of about 210
characters with six options, so demonstrations make prompts of several hundred tokens), two candidates with
the same instruction and different sets of train demonstrations, completion layout, greedy, `max_tokens` 4,
through LocalProvider and the Gateway (no cache, so every request reaches the model). Both orders send the
same requests, each through its own `gateway.run` call; the two orders alternate which goes first across
repetitions, and the ratio is taken per repetition (these 2-core machines are shared), its median reported.

Run: .venv/bin/python bench/prefix_reuse.py [--repeat 5] [--rows 16] [--demos 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from typing import Any

from _support import SHARED_BENCHMARKS, invocation, machine_header, median, table

from prompts.content import PromptContent
from prompts.rendering import render
from workflows.gateway.gateway import Gateway
from workflows.gateway.providers.local import LocalProvider
from workflows.gateway.types import GenerationRequest

TASK = "bbh__date_understanding"
INSTRUCTION = "Answer the question about dates with the letter of the correct option."
TEMPLATE = "Question: {{input}}\nAnswer:"
THREADS = 2


def task_rows() -> list[dict[str, Any]]:
    with (SHARED_BENCHMARKS / f"{TASK}.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    # Train rows only: this script times calls and never scores them, but test rows stay for the benchmark tables.
    return [row for row in rows if row["meta"].get("opro_split") == "train"]


def candidates(rows: list[dict[str, Any]], demos: int) -> list[PromptContent]:
    """Two candidates that differ only in their demonstrations (drawn from rows the timed calls do not use)."""
    drawn = random.Random(0).sample(rows, 2 * demos)  # noqa: S311 - a reproducible sample, not a secret
    return [
        PromptContent(
            template=TEMPLATE,
            system_instruction=INSTRUCTION,
            layout="completion",
            demonstrations=tuple(({"input": row["input"]}, row["target"]) for row in drawn[start : start + demos]),
        )
        for start in (0, demos)
    ]


def timed_order(provider: LocalProvider, order: list[GenerationRequest]) -> tuple[float, list[str]]:
    gateway = Gateway(provider=provider)
    started = time.perf_counter()
    outputs = []
    for request in order:
        (result,) = gateway.run([request])
        if not result.ok or result.generation is None:
            raise SystemExit(f"a call failed: {result.error}")
        outputs.append(result.generation.text)
    return time.perf_counter() - started, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--rows", type=int, default=16, help="rows each candidate is scored on (default 16)")
    parser.add_argument("--demos", type=int, default=4, help="demonstrations per candidate (default 4)")
    parser.add_argument("--max-tokens", type=int, default=4, help="max_tokens (default 4)")
    args = parser.parse_args()

    rows = task_rows()
    contents = candidates(rows, args.demos)
    used = {demo[0]["input"] for content in contents for demo in content.demonstrations}
    scored = [row for row in rows if row["input"] not in used][: args.rows]
    requests = [
        [
            GenerationRequest(prompt=render(content, {"input": row["input"]}), max_tokens=args.max_tokens)
            for row in scored
        ]
        for content in contents
    ]
    grouped = [*requests[0], *requests[1]]  # what the engine does: one candidate's rows, then the next's
    interleaved = [request for pair in zip(*requests, strict=True) for request in pair]

    provider = LocalProvider(threads=THREADS)
    prompt_tokens = [provider.generate([batch[0]])[0].input_tokens for batch in requests]  # also loads the model
    timed_order(provider, grouped[:4])  # warm-up: buffers allocated before anything is timed

    load_before = os.getloadavg()[0]
    results: list[tuple[float, float]] = []
    outputs_agree = True
    for rep in range(args.repeat):
        first_grouped = rep % 2 == 0
        timings: dict[str, float] = {}
        outputs: dict[str, list[str]] = {}
        for name in ("grouped", "interleaved") if first_grouped else ("interleaved", "grouped"):
            order = grouped if name == "grouped" else interleaved
            timings[name], outputs[name] = timed_order(provider, order)
        # Same requests, greedy decoding: the same answers whatever the order (compared per request).
        by_request = dict(zip(map(id, grouped), outputs["grouped"], strict=True))
        outputs_agree &= all(by_request[id(r)] == o for r, o in zip(interleaved, outputs["interleaved"], strict=True))
        results.append((timings["grouped"], timings["interleaved"]))
    load_after = os.getloadavg()[0]

    calls = len(grouped)
    print(machine_header(invocation()))
    print(
        f"workload: {TASK}, 2 candidates x {len(scored)} rows = {calls} calls per order, {args.demos} "
        f"demonstrations each, prompts of {prompt_tokens[0]} and {prompt_tokens[1]} tokens (first row), completion "
        f"layout, greedy, max_tokens {args.max_tokens}; 1-minute load average {load_before:.2f} before, "
        f"{load_after:.2f} after\n"
    )
    print(
        table(
            ["rep", "first", "grouped s", "interleaved s", "interleaved / grouped"],
            [
                (rep, "grouped" if rep % 2 == 0 else "interleaved", f"{g:.2f}", f"{i:.2f}", f"{i / g:.2f}")
                for rep, (g, i) in enumerate(results)
            ],
        )
    )
    grouped_median = median([g for g, _ in results])
    interleaved_median = median([i for _, i in results])
    print(
        f"\nmedian: grouped {grouped_median:.2f} s ({1000 * grouped_median / calls:.0f} ms a call), interleaved "
        f"{interleaved_median:.2f} s ({1000 * interleaved_median / calls:.0f} ms a call); median ratio "
        f"interleaved / grouped {median([i / g for g, i in results]):.2f}; same answers in both orders: "
        f"{'yes' if outputs_agree else 'NO'}"
    )


if __name__ == "__main__":
    main()
