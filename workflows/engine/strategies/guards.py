"""Checks a proposal must pass before it leaves a strategy: no leaked answers, no lost placeholders, no repeats."""

from __future__ import annotations

import re
from collections.abc import Sequence

from prompts.content import PromptContent
from prompts.placeholders import PLACEHOLDER, malformed_placeholders, template_variables
from prompts.version_validation import validate_version_content
from workflows.engine.strategies.base import Observation, ProposalContext

# Expected outputs this short are not checked. A one- or two-character answer ("4", "B", "no") is also an
# ordinary word or number of instructions ("Answer in 1 word", "Pick A or B"), so even a whole-word match would
# flag honest rewrites far more often than it catches copying; and copying such an answer tells the task model
# little beyond the answer format, which stating the allowed labels does legitimately anyway.
MIN_CHECKED_OUTPUT_CHARS = 3


def leaks_expected_outputs(
    text: str, observations: Sequence[Observation], labels: Sequence[str], *, allowed_text: str = ""
) -> bool:
    """True when `text` contains the expected output of an example the optimizer was shown.

    Matching ignores case and runs of whitespace and needs word boundaries on both sides, so "positive" does not
    match "positively". Labels of the task's label set are allowed (an instruction may name the allowed
    answers), and so is anything already in `allowed_text` (the incumbent's own words were not copied from the
    examples by the optimizer).
    """
    haystack = _normalized(text)
    allowed = _normalized(allowed_text)
    allowed_labels = {_normalized(label) for label in labels}
    for expected in {_normalized(observation.expected) for observation in observations}:
        if len(expected) < MIN_CHECKED_OUTPUT_CHARS or expected in allowed_labels:
            continue
        if _contains_phrase(allowed, expected):
            continue
        if _contains_phrase(haystack, expected):
            return True
    return False


def keeps_placeholders(template: str, original_template: str, input_fields: Sequence[str]) -> bool:
    """True when a rewritten template renders for the same examples as the original and keeps all its inputs.

    Every `{{name}}` of the original must survive (dropping one silently throws that input away), a new one
    must name a dataset input field (else rendering fails for every example), and nothing template-like but
    malformed (`{{ x.y }}`, `{% if %}`) may appear.
    """
    variables = template_variables(template)
    known = set(input_fields) | set(template_variables(original_template))
    return (
        set(template_variables(original_template)) <= set(variables)
        and set(variables) <= known
        and not malformed_placeholders(template)
    )


def without_placeholders(text: str) -> str:
    """The text with each `{{name}}` replaced by the bare name: a system instruction is never substituted,
    so braces left in it would reach the model literally."""
    return PLACEHOLDER.sub(lambda match: match.group(1), text)


class NewContents:
    """Admits each content once, and never the incumbent or an earlier candidate: those are already scored,
    so proposing them again would only spend a slot of the iteration. Nor a content that could not be saved as
    a version (a model-written instruction with template syntax, a demonstration over the size limits): it
    might win, and the run would then fail at the very end, when the winner is saved."""

    def __init__(self, context: ProposalContext) -> None:
        self._seen = {context.incumbent.key, *(entry.content.key for entry in context.history)}

    def admit(self, content: PromptContent) -> bool:
        if content.key in self._seen:
            return False
        self._seen.add(content.key)
        return not validate_version_content(content.to_dict())


def _normalized(text: str) -> str:
    return " ".join(text.casefold().split())


def _contains_phrase(haystack: str, phrase: str) -> bool:
    # \b only applies next to word characters: an answer that starts or ends with punctuation ("(b)", "3.5%")
    # gets no boundary on that side, where a plain substring match is the right test.
    start = r"\b" if phrase[0].isalnum() or phrase[0] == "_" else ""
    end = r"\b" if phrase[-1].isalnum() or phrase[-1] == "_" else ""
    return re.search(f"{start}{re.escape(phrase)}{end}", haystack) is not None
