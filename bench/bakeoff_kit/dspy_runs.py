"""DSPy's optimizers on a task, as a DSPy user would run them: a one-predictor program whose instruction is the
task's plain instruction, compiled on the shared train / validation rows, then run on the test rows.

Two adapters: DSPy's default (ChatAdapter: field markers like `[[ ## output ## ]]` in chat messages) and a
completion-style adapter that shows the instruction and `Input:` / `Output:` blocks in one message and reads the
first line back, the layout a small model follows best (DSPy's best case on this model)."""

from __future__ import annotations

import time
from typing import Any

from bakeoff_kit.server import MODEL_ALIAS, CallCounter
from bakeoff_kit.tasks import Row, TaskSplits, test_score

OPTIMIZERS = ("bootstrap_rs", "mipro_light", "gepa_light")
ADAPTERS = ("chat", "completion")
MAX_TOKENS = 64  # the answers are a word, a number or a label; DSPy's chat format adds its field markers
REFLECTION_MAX_TOKENS = 1024
# DSPy aborts an evaluation after a few unparsable answers by default; a small model gives many, and what a
# user wants is those scored as wrong (DSPy's failure score, 0), so the limit is lifted.
MAX_ERRORS = 10**6


def run_dspy(
    splits: TaskSplits, *, optimizer: str, adapter: str, base_url: str, counter: CallCounter
) -> dict[str, Any]:
    """Compile, then test; the calls the proxy counted during each phase, and the final prompt's size."""
    import dspy

    # A cold cache for this run: memory only (the run is its own process), no disk cache shared across runs.
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    task_lm = dspy.LM(
        f"openai/{MODEL_ALIAS}",
        api_base=f"{base_url}/v1",
        api_key="bakeoff",
        temperature=0.0,
        max_tokens=MAX_TOKENS,
        num_retries=2,
    )
    reflection_lm = dspy.LM(
        f"openai/{MODEL_ALIAS}",
        api_base=f"{base_url}/v1",
        api_key="bakeoff",
        temperature=1.0,
        max_tokens=REFLECTION_MAX_TOKENS,
        num_retries=2,
    )
    dspy.configure(
        lm=task_lm,
        adapter=dspy.ChatAdapter() if adapter == "chat" else CompletionAdapter(),
        max_errors=MAX_ERRORS,
    )
    signature = dspy.Signature("input -> output", instructions=splits.instruction)
    program = dspy.Predict(signature)
    trainset = [_example(row) for row in splits.train]
    valset = [_example(row) for row in splits.validation]

    started, calls_before = time.monotonic(), counter.calls
    compiled = _optimizer(optimizer, reflection_lm).compile(program, trainset=trainset, valset=valset)
    optimize_calls, optimize_seconds = counter.calls - calls_before, time.monotonic() - started

    calls_before = counter.calls
    outputs = [_predict(compiled, row) for row in splits.test]
    prompt_tokens = _final_prompt_tokens(compiled, splits.test[0])
    return {
        "optimize_calls": optimize_calls,
        "optimizer_model_calls": _reflection_calls(reflection_lm),
        "optimize_seconds": round(optimize_seconds, 1),
        "test_calls": counter.calls - calls_before,
        "test_scores": [test_score(output, row) for output, row in zip(outputs, splits.test, strict=True)],
        "test_outputs": outputs,
        "prompt_tokens": prompt_tokens,
        "final_instruction": compiled.signature.instructions,
        "final_demos": len(compiled.demos),
    }


def _metric(gold: Any, prediction: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
    """The optimizers' metric: the bake-off's scorer; for GEPA also a line of feedback, as its docs ask."""
    import dspy

    row = Row(input=gold.input, target=gold.output, answers=tuple(gold.answers))
    output = str(getattr(prediction, "output", "") or "")
    score = test_score(output, row)
    if pred_name is None and pred_trace is None:
        return score
    feedback = "correct" if score == 1.0 else f"expected {row.target!r}, got {output[:80]!r}"
    return dspy.Prediction(score=score, feedback=feedback)


def _optimizer(name: str, reflection_lm: Any) -> Any:
    import dspy

    if name == "bootstrap_rs":
        return dspy.BootstrapFewShotWithRandomSearch(metric=_metric, num_threads=1)
    if name == "mipro_light":
        return dspy.MIPROv2(metric=_metric, auto="light", num_threads=1, seed=0)
    if name == "gepa_light":
        return dspy.GEPA(metric=_metric, auto="light", reflection_lm=reflection_lm, num_threads=1, seed=0)
    raise ValueError(f"unknown DSPy optimizer {name!r}")


def _example(row: Row) -> Any:
    import dspy

    return dspy.Example(input=row.input, output=row.target, answers=list(row.answers)).with_inputs("input")


def _predict(program: Any, row: Row) -> str:
    try:
        return str(program(input=row.input).output or "")
    except Exception:
        return ""


def _final_prompt_tokens(program: Any, row: Row) -> int:
    """Prompt tokens of one production call of the compiled program (the server's own count)."""
    import dspy

    lm = dspy.settings.lm
    before = len(lm.history)
    _predict(program, row)
    usage = lm.history[-1].get("usage") or {} if len(lm.history) > before else {}
    return int(usage.get("prompt_tokens") or 0)


def _reflection_calls(reflection_lm: Any) -> int:
    return len(reflection_lm.history)


def _completion_adapter_class() -> type:
    import dspy

    class _CompletionAdapter(dspy.Adapter):
        def format(self, signature: Any, demos: list[dict[str, Any]], inputs: dict[str, Any]) -> list[dict[str, Any]]:
            blocks = [signature.instructions.strip()]
            for demo in demos:
                if demo.get("input") is not None and demo.get("output") is not None:
                    blocks.append(f"Input: {demo['input']}\nOutput: {demo['output']}")
            blocks.append(f"Input: {inputs['input']}\nOutput:")
            return [{"role": "user", "content": "\n\n".join(block for block in blocks if block)}]

        def parse(self, signature: Any, completion: str) -> dict[str, Any]:
            lines = [line.strip() for line in completion.strip().splitlines() if line.strip()]
            return {"output": lines[0] if lines else ""}

        def format_field_description(self, signature: Any) -> str:
            return ""

        def format_field_structure(self, signature: Any) -> str:
            return "Input: ...\nOutput: ..."

        def format_task_description(self, signature: Any) -> str:
            return str(signature.instructions)

        def format_user_message_content(self, signature: Any, inputs: dict[str, Any], **kwargs: Any) -> str:
            return f"Input: {inputs.get('input', '')}\nOutput:"

        def format_assistant_message_content(self, signature: Any, outputs: dict[str, Any], **kwargs: Any) -> str:
            return str(outputs.get("output", ""))

    return _CompletionAdapter


def CompletionAdapter() -> Any:
    return _completion_adapter_class()()
