"""The critique strategy (ProTeGi's textual gradients): the optimizer model diagnoses the incumbent's failures and
rewrites its instruction; also the parsing and applying of instruction rewrites that `history` shares."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prompts.content import PromptContent
from prompts.placeholders import template_variables
from workflows.engine.strategies.base import Observation, Proposal, ProposalContext
from workflows.engine.strategies.guards import (
    NewContents,
    keeps_placeholders,
    leaks_expected_outputs,
    without_placeholders,
)

logger = logging.getLogger(__name__)

MAX_FAILURES_SHOWN = 5
MAX_INPUT_CHARS_SHOWN = 600
# Longer "instructions" are runaway generations (an essay, a pasted dataset), not prompts.
MAX_INSTRUCTION_CHARS = 4_000
MAX_RATIONALE_CHARS = 240

OPTIMIZER_SYSTEM = (
    "You are an expert prompt engineer. You improve the prompts a language model is given so that it answers a "
    "task correctly. You reply with a single JSON object and nothing else."
)


class InstructionRewrites(BaseModel):
    """What the optimizer model answers: an optional diagnosis and one or more rewritten instructions."""

    model_config = ConfigDict(extra="ignore")

    diagnosis: str = ""
    instructions: list[str] = Field(min_length=1)

    @field_validator("instructions")
    @classmethod
    def _non_blank(cls, instructions: list[str]) -> list[str]:
        kept = [instruction.strip() for instruction in instructions if instruction.strip()]
        if not kept:
            raise ValueError("every instruction is blank")
        return kept


REWRITES_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "diagnosis": {"type": "string"},
        "instructions": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["instructions"],
}


def rewrites_parse(text: str | None) -> InstructionRewrites | None:
    """The validated answer, or None for no answer, invalid JSON or the wrong shape; code fences are tolerated
    because models wrap JSON in them even when asked not to."""
    if not text or not text.strip():
        return None
    try:
        return InstructionRewrites.model_validate_json(_without_code_fence(text.strip()))
    except ValidationError as error:
        logger.info("the optimizer model's answer is not valid rewrites JSON: %s", error.errors()[:1])
        return None


def content_with_instruction(
    incumbent: PromptContent, instruction: str, input_fields: Sequence[str]
) -> tuple[PromptContent, str] | None:
    """The incumbent with a rewritten instruction, and which field it replaced; None when it cannot be used.

    The contract given to the optimizer model: text without placeholders replaces the system instruction;
    text with placeholders is a complete new template and replaces the template. A template that dropped an
    input (or invented one) would render without that input or not at all, so its wording goes into the system
    instruction instead, with the placeholders turned into plain names.
    """
    instruction = instruction.strip()
    if not instruction or len(instruction) > MAX_INSTRUCTION_CHARS:
        return None
    if template_variables(instruction) and keeps_placeholders(instruction, incumbent.template, input_fields):
        return incumbent.edit(template=instruction), "template"
    return incumbent.edit(system_instruction=without_placeholders(instruction)), "system instruction"


def prompt_description(content: PromptContent) -> str:
    """The prompt as the optimizer model sees it: instruction, template and output format."""
    if content.output_type == "choice":
        output = "exactly one of: " + ", ".join(content.output_choices)
    elif content.output_type == "json":
        output = "JSON matching a schema"
    else:
        output = "free text"
    return "\n".join(
        [
            instruction_block("System instruction", content.system_instruction),
            instruction_block("Template (each {{name}} is replaced by that input of an example)", content.template),
            f"Layout: {content.layout}; demonstrations: {len(content.demonstrations)}; output: {output}",
        ]
    )


def instruction_block(title: str, text: str) -> str:
    """A titled block the optimizer model can tell apart from the request around it."""
    return f"{title}:\n<<<\n{text}\n>>>" if text.strip() else f"{title}: (none)"


def rewrite_rules(template: str) -> str:
    placeholders = ", ".join("{{" + name + "}}" for name in template_variables(template)) or "(none)"
    return "\n".join(
        [
            "Rules:",
            "- Text without placeholders replaces the system instruction; the template stays as it is.",
            f"- To change the template, write the complete new template and keep every placeholder: {placeholders}.",
            "- Never copy the expected outputs of the examples shown into an instruction; describe the rule that "
            "leads to them. Naming the allowed answer labels is fine.",
        ]
    )


def example_description(observation: Observation, *, with_output: bool) -> str:
    lines = ["Inputs:"]
    for name, value in observation.inputs.items():
        shown = value if len(value) <= MAX_INPUT_CHARS_SHOWN else value[:MAX_INPUT_CHARS_SHOWN] + " […]"
        lines.append(f"  {name}: {shown}")
    if with_output:
        lines.append(f"Model output: {observation.output}")
    lines.append(f"Expected output: {observation.expected}")
    if with_output and observation.feedback:
        lines.append(f"Feedback: {observation.feedback}")
    return "\n".join(lines)


def proposals_from_rewrites(
    rewrites: InstructionRewrites,
    context: ProposalContext,
    count: int,
    *,
    strategy: str,
    shown: Sequence[Observation],
    rationale_prefix: str,
) -> list[Proposal]:
    """Up to `count` new candidates from the rewrites, skipping leaking, unusable and repeated ones."""
    new_contents = NewContents(context)
    proposals: list[Proposal] = []
    for instruction in rewrites.instructions:
        if len(proposals) >= count:
            break
        if leaks_expected_outputs(instruction, shown, context.labels, allowed_text=context.incumbent.instruction_text):
            logger.info("dropped a %s rewrite that copies expected outputs of the examples shown", strategy)
            continue
        applied = content_with_instruction(context.incumbent, instruction, context.input_fields)
        if applied is None or not new_contents.admit(applied[0]):
            continue
        content, target = applied
        rationale = f"{rationale_prefix} Rewrote the {target}."
        if len(rationale) > MAX_RATIONALE_CHARS:
            rationale = rationale[: MAX_RATIONALE_CHARS - 1].rstrip() + "…"
        proposals.append(
            Proposal(
                content=content,
                strategy=strategy,
                rationale=rationale,
                params={"target": target, "diagnosis": rewrites.diagnosis[:MAX_RATIONALE_CHARS]},
            )
        )
    return proposals


class CritiqueStrategy:
    """Shows the optimizer model the incumbent and its worst minibatch failures, asks what they have in
    common and for instructions that fix it; each instruction becomes a candidate."""

    name: ClassVar[str] = "critique"
    needs_optimizer: ClassVar[bool] = True

    def propose(self, context: ProposalContext, count: int) -> list[Proposal]:
        # Without failures there is nothing to criticise; the other strategies still explore.
        failures = context.failures[:MAX_FAILURES_SHOWN]
        if count <= 0 or context.optimizer is None or not failures:
            return []
        answer = context.optimizer.complete(
            system=OPTIMIZER_SYSTEM, user=self._request(context, failures, count), json_schema=REWRITES_SCHEMA
        )
        rewrites = rewrites_parse(answer)
        if rewrites is None:
            return []
        diagnosis = " ".join(rewrites.diagnosis.split()) or "no diagnosis given"
        return proposals_from_rewrites(
            rewrites,
            context,
            count,
            strategy=self.name,
            shown=failures,
            rationale_prefix=f"Critique of {len(failures)} failure(s): {diagnosis}",
        )

    @staticmethod
    def _request(context: ProposalContext, failures: Sequence[Observation], count: int) -> str:
        examples = "\n\n".join(
            f"Failure {number}\n{example_description(observation, with_output=True)}"
            for number, observation in enumerate(failures, start=1)
        )
        return "\n\n".join(
            [
                "A language model is given this prompt:",
                prompt_description(context.incumbent),
                f"On a minibatch of training examples it scored {context.incumbent_score:.2f} (0 to 1). "
                "It failed these examples:",
                examples,
                "First diagnose in one or two sentences what these failures have in common and what in the prompt "
                f"causes them. Then write {count} different improved instruction(s) that fix it.",
                rewrite_rules(context.incumbent.template),
                "Reply with JSON: " + json.dumps({"diagnosis": "…", "instructions": ["…"]}, ensure_ascii=False),
            ]
        )


def _without_code_fence(text: str) -> str:
    if not text.startswith("```"):
        return text
    first_newline = text.find("\n")
    body = text[first_newline + 1 :] if first_newline != -1 else ""
    body = body.rstrip()
    return body.removesuffix("```").strip()
