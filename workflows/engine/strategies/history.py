"""The history strategy (OPRO): the optimizer model sees earlier instructions with their scores, worst first and
best last, and writes new ones meant to score higher."""

from __future__ import annotations

import json
import random
from typing import ClassVar

from prompts.content import PromptContent
from workflows.engine.strategies.base import Observation, Proposal, ProposalContext
from workflows.engine.strategies.critique import (
    OPTIMIZER_SYSTEM,
    REWRITES_SCHEMA,
    example_description,
    instruction_block,
    proposals_from_rewrites,
    rewrite_rules,
    rewrites_parse,
)
from workflows.engine.strategies.demos import instruction_key

# OPRO keeps the 20 best instruction-score pairs in its meta-prompt; more would crowd out the examples.
MAX_INSTRUCTIONS_SHOWN = 20
EXAMPLES_SHOWN = 3


class HistoryStrategy:
    name: ClassVar[str] = "history"
    needs_optimizer: ClassVar[bool] = True

    def propose(self, context: ProposalContext, count: int) -> list[Proposal]:
        if count <= 0 or context.optimizer is None:
            return []
        rng = random.Random(f"history:{context.seed}")  # noqa: S311 - reproducible, not a secret
        examples = rng.sample(list(context.observations), min(EXAMPLES_SHOWN, len(context.observations)))
        scored = self._scored_instructions(context)
        answer = context.optimizer.complete(
            system=OPTIMIZER_SYSTEM, user=self._request(context, scored, examples, count), json_schema=REWRITES_SCHEMA
        )
        rewrites = rewrites_parse(answer)
        if rewrites is None:
            return []
        best = scored[-1][1]
        return proposals_from_rewrites(
            rewrites,
            context,
            count,
            strategy=self.name,
            shown=examples,
            rationale_prefix=f"Written from {len(scored)} earlier instruction(s) and their scores (best {best:.2f}).",
        )

    @staticmethod
    def _scored_instructions(context: ProposalContext) -> list[tuple[PromptContent, float]]:
        """One entry per distinct instruction with its best score: the best ones, sorted ascending.

        Ascending order is OPRO's: the model continues the trend and reads the best instructions last, closest
        to where it starts writing.
        """
        best: dict[str, tuple[PromptContent, float]] = {}
        candidates = [(context.incumbent, context.incumbent_score)]
        candidates += [(entry.content, entry.score) for entry in context.history]
        for content, score in candidates:
            key = instruction_key(content)
            if key not in best or score > best[key][1]:
                best[key] = (content, score)
        top = sorted(best.values(), key=lambda item: -item[1])[:MAX_INSTRUCTIONS_SHOWN]
        return sorted(top, key=lambda item: item[1])

    @staticmethod
    def _request(
        context: ProposalContext,
        scored: list[tuple[PromptContent, float]],
        examples: list[Observation],
        count: int,
    ) -> str:
        history = "\n\n".join(
            "\n".join(
                [
                    instruction_block("System instruction", content.system_instruction),
                    instruction_block("Template", content.template),
                    f"Score: {score:.2f}",
                ]
            )
            for content, score in scored
        )
        parts = [
            "Below are earlier prompts for a task with their scores (0 to 1, higher is better), sorted from worst "
            "to best. In each template, {{name}} is replaced by that input of an example.",
            history,
        ]
        if examples:
            parts.append("Examples of the task:")
            parts.append("\n\n".join(example_description(observation, with_output=False) for observation in examples))
        parts += [
            f"Write {count} new instruction(s) that differ from all the prompts above and should score higher than "
            "the best of them.",
            rewrite_rules(context.incumbent.template),
            "Reply with JSON: " + json.dumps({"instructions": ["…"]}, ensure_ascii=False),
        ]
        return "\n\n".join(parts)
