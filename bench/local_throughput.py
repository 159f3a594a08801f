"""Local model throughput: evaluation requests through the gateway vs llama.cpp called directly, in one process.

Target (issue 3, Performance): through LocalProvider + Gateway, evaluation throughput is at least 90% of
calling `llama_cpp.Llama.create_completion` directly on the same prompts with the same max_tokens.

Both sides run greedy free-text generation on the same completion-layout prompts (the first N reviews of the
APE sentiment task), each on its own `Llama` instance loaded with the same parameters, so neither inherits the
other's KV cache. These 2-core machines are shared: a test run elsewhere takes a core, and llama.cpp's two
threads then wait on each other, slowing a pass several-fold. So the sides are interleaved in small blocks of
prompts (gateway block, direct block, alternating which goes first, and alternating again across
repetitions): both see the same background load, and the ratio is taken per repetition, its median reported.
The choice-scoring path (labels picked by log-probability) is timed through the gateway for information only:
it does different work from free-text generation, so it has no direct counterpart here.

Run: .venv/bin/python bench/local_throughput.py [--repeat 5] [--prompts 40] [--block 8] [--max-tokens 4]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from typing import Any

from _support import invocation, machine_header, median, sentiment_rows, table

from prompts.content import PromptContent
from prompts.rendering import render
from workflows.gateway.gateway import Gateway
from workflows.gateway.providers.local import (
    COMPLETION_STOPS,
    DEFAULT_CONTEXT_TOKENS,
    LocalProvider,
    _without_extra_buffer_types,
    default_model_path,
)
from workflows.gateway.types import GenerationRequest

TARGET_RATIO = 0.90
TEMPLATE = "Review: {{input}}\nSentiment:"
LABELS = ("positive", "negative")
THREADS = 2  # LocalProvider's default, and the machines' core count


def load_direct_llama() -> Any:
    """A second Llama on the same GGUF, with the parameters LocalProvider's `_load` uses.

    The same `_without_extra_buffer_types` guard is needed here: without it llama.cpp's AMX kernels crash
    the process on these virtual machines, so the "direct" baseline could not run at all.
    """
    from llama_cpp import Llama

    with _without_extra_buffer_types():
        return Llama(
            model_path=str(default_model_path()),
            n_ctx=DEFAULT_CONTEXT_TOKENS,
            n_threads=THREADS,
            logits_all=True,  # as in _load; it makes every decode produce logits, so both sides pay it
            verbose=False,
            seed=0,
        )


def gateway_block(gateway: Gateway, rows: list[dict[str, Any]], spec: PromptContent, max_tokens: int) -> list[str]:
    """What an evaluation does per chunk of examples: render each, build requests, run them through the gateway."""
    requests = [GenerationRequest(prompt=render(spec, {"input": row["input"]}), max_tokens=max_tokens) for row in rows]
    results = gateway.run(requests)
    failed = [result.error for result in results if not result.ok]
    if failed:
        raise SystemExit(f"the gateway failed {len(failed)} requests, e.g. {failed[0]}")
    return [result.generation.text for result in results if result.generation is not None]


def direct_block(llama: Any, prompts: list[str], max_tokens: int) -> list[str]:
    """The baseline: one create_completion per prompt text, greedy, with the provider's stop sequence."""
    outputs = []
    for prompt in prompts:
        completion = llama.create_completion(
            prompt=prompt, max_tokens=max_tokens, temperature=0.0, seed=0, stop=COMPLETION_STOPS
        )
        outputs.append(completion["choices"][0]["text"].strip())
    return outputs


@dataclass
class PairedPass:
    """One repetition: every prompt once through the gateway and once directly, interleaved by block."""

    gateway_seconds: float = 0.0
    direct_seconds: float = 0.0
    gateway_outputs: list[str] = field(default_factory=list)
    direct_outputs: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        # Same prompts on both sides, so throughput(gateway) / throughput(direct) = direct time / gateway time.
        return self.direct_seconds / self.gateway_seconds


def paired_pass(
    provider: LocalProvider,
    llama: Any,
    rows: list[dict[str, Any]],
    spec: PromptContent,
    *,
    block: int,
    max_tokens: int,
    gateway_first: bool,
) -> PairedPass:
    result = PairedPass()
    # One gateway per repetition, as one evaluation has one gateway; no cache, so every request reaches the model.
    gateway = Gateway(provider=provider)
    for start in range(0, len(rows), block):
        block_rows = rows[start : start + block]
        prompts = [render(spec, {"input": row["input"]}).completion_text for row in block_rows]
        sides = ["gateway", "direct"] if gateway_first else ["direct", "gateway"]
        for side in sides:
            started = time.perf_counter()
            if side == "gateway":
                result.gateway_outputs += gateway_block(gateway, block_rows, spec, max_tokens)
                result.gateway_seconds += time.perf_counter() - started
            else:
                result.direct_outputs += direct_block(llama, prompts, max_tokens)
                result.direct_seconds += time.perf_counter() - started
        gateway_first = not gateway_first  # alternate within the repetition as well
    return result


def accuracy(outputs: list[str], rows: list[dict[str, Any]]) -> float:
    # Lower-cased exact match: only for reading the table (are both sides doing the same useful work?).
    hits = sum(output.strip().lower() == row["target"] for output, row in zip(outputs, rows, strict=True))
    return hits / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--prompts", type=int, default=40, help="number of review prompts (default 40)")
    parser.add_argument("--block", type=int, default=8, help="prompts per interleaved block (default 8)")
    parser.add_argument("--max-tokens", type=int, default=4, help="max_tokens of free-text generation (default 4)")
    args = parser.parse_args()

    rows = sentiment_rows(args.prompts)
    free_spec = PromptContent(template=TEMPLATE, layout="completion")
    choice_spec = PromptContent(template=TEMPLATE, layout="completion", output_type="choice", output_choices=LABELS)

    provider = LocalProvider(threads=THREADS)
    llama = load_direct_llama()

    def choice_pass() -> tuple[float, list[str]]:
        started = time.perf_counter()
        outputs = gateway_block(Gateway(provider=provider), rows, choice_spec, args.max_tokens)
        return time.perf_counter() - started, outputs

    # One untimed round of each: loads the provider's model and lets both contexts allocate their buffers.
    paired_pass(provider, llama, rows, free_spec, block=args.block, max_tokens=args.max_tokens, gateway_first=True)
    choice_pass()

    load_before = os.getloadavg()[0]
    passes: list[PairedPass] = []
    choice_seconds: list[float] = []
    choice_outputs: list[str] = []
    for rep in range(args.repeat):
        passes.append(
            paired_pass(
                provider,
                llama,
                rows,
                free_spec,
                block=args.block,
                max_tokens=args.max_tokens,
                gateway_first=rep % 2 == 0,
            )
        )
        seconds, choice_outputs = choice_pass()
        choice_seconds.append(seconds)
    load_after = os.getloadavg()[0]

    count = len(rows)
    gateway_median = median([p.gateway_seconds for p in passes])
    direct_median = median([p.direct_seconds for p in passes])
    choice_median = median(choice_seconds)
    ratio_median = median([p.ratio for p in passes])
    last = passes[-1]
    identical = sum(a == b for a, b in zip(last.gateway_outputs, last.direct_outputs, strict=True))

    print(machine_header(invocation()))
    print(
        f"workload: {count} APE sentiment reviews, completion layout, greedy, max_tokens {args.max_tokens}, "
        f"blocks of {args.block}; 1-minute load average {load_before:.2f} before, {load_after:.2f} after\n"
    )
    print(
        table(
            ["rep", "first block", "gateway s", "direct s", "gateway/direct throughput", "choice scoring s"],
            [
                (
                    rep,
                    "gateway" if rep % 2 else "direct",
                    f"{p.gateway_seconds:.3f}",
                    f"{p.direct_seconds:.3f}",
                    f"{p.ratio:.3f}",
                    f"{c:.3f}",
                )
                for rep, (p, c) in enumerate(zip(passes, choice_seconds, strict=True), start=1)
            ],
        )
    )
    print()
    print(
        table(
            ["path", "median s per pass", "median prompts/s", "accuracy (exact, lower-cased)"],
            [
                (
                    "gateway, free text",
                    f"{gateway_median:.3f}",
                    f"{count / gateway_median:.1f}",
                    f"{accuracy(last.gateway_outputs, rows):.3f}",
                ),
                (
                    "direct create_completion",
                    f"{direct_median:.3f}",
                    f"{count / direct_median:.1f}",
                    f"{accuracy(last.direct_outputs, rows):.3f}",
                ),
                (
                    "gateway, choice scoring (info)",
                    f"{choice_median:.3f}",
                    f"{count / choice_median:.1f}",
                    f"{accuracy(choice_outputs, rows):.3f}",
                ),
            ],
        )
    )
    print()
    print(f"outputs identical between gateway and direct: {identical}/{count}")
    print(
        f"throughput ratio gateway/direct: median {ratio_median:.3f} over {args.repeat} repetitions "
        f"(ratio of medians {direct_median / gateway_median:.3f}); target >= {TARGET_RATIO:.2f}: "
        f"{'met' if ratio_median >= TARGET_RATIO else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
