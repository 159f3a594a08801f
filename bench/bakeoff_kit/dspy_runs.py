"""DSPy's optimizers on a task, as a DSPy user would run them: a one-predictor program whose instruction is the
task's plain instruction, compiled on the shared train / validation rows, then run on the test rows.

Two adapters: DSPy's default (ChatAdapter: field markers like `[[ ## output ## ]]` in chat messages) and a
completion-style adapter that writes the instruction and `Input:` / `Output:` blocks as one text, sends it to the
server's text-completion route to be continued (as PromptOpt's completion layout is) and reads the first line
back: the layout a small model follows best (DSPy's best case on this model)."""

from __future__ import annotations

import time
from typing import Any

from bakeoff_kit.server import MODEL_ALIAS, OPTIMIZER_PREFIX, CallCounter
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
    import warnings

    import dspy

    # TextCompletionLM uses the BaseLM.forward interface, supported throughout DSPy 3.4 (the pinned version).
    warnings.filterwarnings("ignore", message="Implementing custom LMs through BaseLM", category=DeprecationWarning)
    # A cold cache for this run: configuring it makes a new, empty one (memory only, no disk cache to carry
    # answers from one run to the next), as DSPy's default caching would be for a user's first run.
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    if adapter == "chat":
        task_lm = _lm(base_url, temperature=0.0, max_tokens=MAX_TOKENS)
    else:
        task_lm = TextCompletionLM(base_url, temperature=0.0, max_tokens=MAX_TOKENS)
    # The model that writes instructions (MIPROv2's prompt model, GEPA's reflection model): the same model,
    # as its own LM object reaching it under the proxy's optimizer prefix, so its calls are counted apart.
    optimizer_lm = _lm(f"{base_url}{OPTIMIZER_PREFIX}", temperature=1.0, max_tokens=REFLECTION_MAX_TOKENS)
    dspy.configure(
        lm=task_lm,
        adapter=dspy.ChatAdapter() if adapter == "chat" else CompletionAdapter(),
        max_errors=MAX_ERRORS,
    )
    signature = dspy.Signature("input -> output", instructions=splits.instruction)
    program = dspy.Predict(signature)
    trainset = [_example(row) for row in splits.train]
    valset = [_example(row) for row in splits.validation]

    started, calls_before, optimizer_calls_before = time.monotonic(), counter.calls, counter.optimizer_calls
    failure = ""
    try:
        compiled = _optimizer(optimizer, optimizer_lm).compile(program, trainset=trainset, valset=valset)
    except Exception as error:
        compiled, failure = program, f"{type(error).__name__}: {error}"[:500]
    optimize_calls, optimize_seconds = counter.calls - calls_before, time.monotonic() - started
    optimizer_model_calls = counter.optimizer_calls - optimizer_calls_before

    calls_before, history_before = counter.calls, len(task_lm.history)
    outputs = [_predict(compiled, row) for row in splits.test]
    test_calls = counter.calls - calls_before
    prompt_tokens = _prompt_tokens(task_lm.history[history_before:])
    # The compiled program on the validation rows (answers the optimizer already had come from the run's
    # cache): what development tasks are judged by, never the test column.
    validation = [test_score(_predict(compiled, row), row) for row in splits.validation]
    return {
        # The task calls the proxy saw while compiling (the optimizer model's are counted apart): uncached.
        "optimize_calls": optimize_calls,
        "optimizer_model_calls": optimizer_model_calls,
        "optimize_seconds": round(optimize_seconds, 1),
        "test_calls": test_calls,
        "test_scores": [test_score(output, row) for output, row in zip(outputs, splits.test, strict=True)],
        "test_outputs": outputs,
        "prompt_tokens": prompt_tokens,
        "winner_validation": sum(validation) / len(validation) if validation else None,
        "final_instruction": compiled.signature.instructions,
        "final_demos": len(compiled.demos),
        "failure": failure,  # empty when the optimizer finished; else its error, and the starting program is tested
    }


def _lm(base_url: str, *, temperature: float, max_tokens: int) -> Any:
    """The shared task model through the proxy, as an OpenAI-compatible endpoint."""
    import dspy

    return dspy.LM(
        f"openai/{MODEL_ALIAS}",
        api_base=f"{base_url}/v1",
        api_key="bakeoff",
        temperature=temperature,
        max_tokens=max_tokens,
        num_retries=2,
    )


def _text_completion_lm_class() -> type:
    import dspy
    import httpx

    class _TextCompletionLM(dspy.BaseLM):
        """The task model through the server's `/v1/completions`, given the adapter's text as it is.

        DSPy's own text mode (`dspy.LM(model_type="text")`) joins the messages and appends "BEGIN RESPONSE:",
        which this model continues as prose instead of answering after "Output:"; a BaseLM subclass with its
        own `forward` is DSPy's extension point for such a client. Answers are memoized for the run (what
        DSPy's memory cache gives its own LMs), so a repeated call is not sent, nor counted, twice."""

        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(model=f"openai/{MODEL_ALIAS}", model_type="text", **kwargs)
            self._client = httpx.Client(base_url=base_url, timeout=600)
            self._answers: dict[tuple[str, Any, Any, Any], dict[str, Any]] = {}

        def forward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
            from types import SimpleNamespace

            text = prompt if prompt is not None else "\n\n".join(str(message["content"]) for message in messages)
            settings = {**self.kwargs, **kwargs}
            # DSPy asks for a fresh answer by a new rollout_id (its own cache keys on it too).
            key = (text, settings.get("max_tokens"), settings.get("temperature"), settings.get("rollout_id"))
            if key not in self._answers:
                body = {
                    "model": MODEL_ALIAS,
                    "prompt": text,
                    "max_tokens": settings.get("max_tokens"),
                    "temperature": settings.get("temperature"),
                    "stop": ["\n\n"],  # as PromptOpt's completion layout: a blank line ends the answer
                }
                response = self._client.post("/v1/completions", json=body)
                response.raise_for_status()
                self._answers[key] = response.json()
            data = self._answers[key]
            return SimpleNamespace(choices=data["choices"], usage=data.get("usage") or {}, model=MODEL_ALIAS)

    return _TextCompletionLM


def TextCompletionLM(base_url: str, **kwargs: Any) -> Any:
    return _text_completion_lm_class()(base_url, **kwargs)


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


def _optimizer(name: str, optimizer_lm: Any) -> Any:
    import dspy

    if name == "bootstrap_rs":
        return dspy.BootstrapFewShotWithRandomSearch(metric=_metric, num_threads=1)
    if name == "mipro_light":
        return dspy.MIPROv2(metric=_metric, auto="light", prompt_model=optimizer_lm, num_threads=1, seed=0)
    if name == "gepa_light":
        return dspy.GEPA(metric=_metric, auto="light", reflection_lm=optimizer_lm, num_threads=1, seed=0)
    raise ValueError(f"unknown DSPy optimizer {name!r}")


def _example(row: Row) -> Any:
    import dspy

    return dspy.Example(input=row.input, output=row.target, answers=list(row.answers)).with_inputs("input")


def _predict(program: Any, row: Row) -> str:
    try:
        return str(program(input=row.input).output or "")
    except Exception:
        return ""


def _prompt_tokens(calls: list[dict[str, Any]]) -> int:
    """Prompt tokens of the first test call (as the server counted them): what each production call costs."""
    for call in calls:
        usage = call.get("usage") or {}
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else getattr(usage, "prompt_tokens", None)
        if tokens:
            return int(tokens)
    return 0


def _completion_adapter_class() -> type:
    import dspy

    class _CompletionAdapter(dspy.ChatAdapter):
        """The task's `input -> output` calls in the completion layout; any other signature (an optimizer's own
        proposers run through the configured adapter too) goes through DSPy's ChatAdapter as usual."""

        def format(self, signature: Any, demos: list[dict[str, Any]], inputs: dict[str, Any]) -> list[dict[str, Any]]:
            if not _is_task(signature):
                return list(super().format(signature, demos, inputs))
            blocks = [signature.instructions.strip()]
            for demo in demos:
                if demo.get("input") is not None and demo.get("output") is not None:
                    blocks.append(f"Input: {demo['input']}\nOutput: {demo['output']}")
            blocks.append(f"Input: {inputs['input']}\nOutput:")
            return [{"role": "user", "content": "\n\n".join(block for block in blocks if block)}]

        def parse(self, signature: Any, completion: str) -> dict[str, Any]:
            if not _is_task(signature):
                return dict(super().parse(signature, completion))
            lines = [line.strip() for line in completion.strip().splitlines() if line.strip()]
            return {"output": lines[0] if lines else ""}

    return _CompletionAdapter


def _is_task(signature: Any) -> bool:
    return list(signature.input_fields) == ["input"] and list(signature.output_fields) == ["output"]


def CompletionAdapter() -> Any:
    return _completion_adapter_class()()
