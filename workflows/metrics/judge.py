"""LLM-as-judge: a model grades each output on a 1-to-5 scale against a versioned rubric, through the gateway."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prompts.content import PromptContent
from prompts.rendering import render
from workflows.gateway.types import GenerationRequest
from workflows.metrics.base import MetricInput, MetricResult

GRADES = ("1", "2", "3", "4", "5")


@dataclass(frozen=True)
class Rubric:
    """A grading prompt. Never edit a published rubric: scores are only comparable within one version."""

    version: str
    system_instruction: str
    template: str


RUBRICS: dict[str, Rubric] = {
    "correctness-v1": Rubric(
        version="correctness-v1",
        system_instruction=(
            "You grade answers. Compare the answer with the reference answer and reply with one digit: "
            "5 = fully correct, 4 = correct with minor flaws, 3 = partly correct, 2 = mostly wrong, "
            "1 = wrong or missing."
        ),
        template="Task input: {{input}}\nReference answer: {{expected}}\nAnswer to grade: {{output}}\nGrade:",
    ),
}

# A judge call: the gateway-backed function that answers one rendered request (cached, budgeted, retried).
JudgeCall = Callable[[Sequence[GenerationRequest]], list[str | None]]


class LlmJudge:
    """Scores (grade - 1) / 4; the grade is one of five choices, picked by log-probability where possible."""

    name = "llm_judge"
    binary = False

    def __init__(self, *, rubric: str, ask: JudgeCall) -> None:
        self._rubric = RUBRICS[rubric]
        self._spec = PromptContent(
            template=self._rubric.template,
            system_instruction=self._rubric.system_instruction,
            layout="completion",
            output_type="choice",
            output_choices=GRADES,
        )
        self._ask = ask

    def score(self, item: MetricInput) -> MetricResult:
        task_input = "\n".join(f"{name}: {value}" for name, value in item.inputs.items()) or "(none)"
        variables = {"input": task_input, "expected": item.expected, "output": item.output}
        prompt = render(self._spec, variables)
        [answer] = self._ask([GenerationRequest(prompt=prompt, temperature=0.0, max_tokens=2)])
        grade = (answer or "").strip()[:1]
        if grade not in GRADES:
            return MetricResult(0.0, f"the judge gave no usable grade ({answer!r}) under {self._rubric.version}")
        score = (int(grade) - 1) / 4
        feedback = "" if grade == "5" else f"the judge graded it {grade}/5 under {self._rubric.version}"
        return MetricResult(score, feedback)
