"""Edit operators that need no optimizer model (layout, output constraints, demonstrations, wording) and the
strategy that composes them into candidates."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from prompts.content import Demonstration, PromptContent
from prompts.placeholders import PLACEHOLDER
from workflows.engine.strategies.base import Proposal, ProposalContext
from workflows.engine.strategies.demos import DEFAULT_MAX_DEMOS, demo_limit, demonstration_pool, inputs_key
from workflows.engine.strategies.guards import NewContents

ANSWER_ONLY = "Answer with only the answer, no explanation."
STEP_BY_STEP = "Let's think step by step."
# When every train answer is at most this long, 16 tokens are enough and a lower cap stops a small model
# from rambling on after the answer (which exact-match metrics count as wrong).
SHORT_ANSWER_CHARS = 40
SHORT_ANSWER_MAX_TOKENS = 16
# Reasoning needs room before the answer.
STEP_BY_STEP_MIN_TOKENS = 256
# Draws per wanted proposal before giving up: most draws are rejected when few operators apply.
ATTEMPTS_PER_PROPOSAL = 12
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A template line holding one input, bare or after a field name: "{{review}}" or "Review: {{review}}".
INPUT_LINE = re.compile(r"^\s*(?:[^:{}]{1,40}:\s*)?\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$")
# Field names that fit most tasks, tried besides the names the instruction itself uses.
GENERIC_INPUT_NAMES = ("Input", "Question", "Text")
GENERIC_OUTPUT_NAMES = ("Output", "Answer")
# Words that end a noun phrase taken from the instruction ("the sentiment of the sentence" gives "sentiment").
PHRASE_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "given",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "what",
        "which",
        "with",
    ]
)
INSTRUCTION_PHRASE = re.compile(r"\bthe\s+([A-Za-z]+(?:\s+[A-Za-z]+)?)", re.IGNORECASE)

Operator = Callable[[PromptContent, ProposalContext, random.Random], PromptContent | None]


@dataclass(frozen=True)
class EditOperator:
    name: str
    describe: Callable[[ProposalContext], str]  # what it did, for the rationale
    apply: Operator  # None when the operator does not apply to this content


# Operators ---------------------------------------------------------------------------------------------------------


def state_labels(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    """Names the allowed answers in the system instruction (unless every label is already mentioned)."""
    if not context.labels:
        return None
    text = content.instruction_text.casefold()
    if all(label.casefold() in text for label in context.labels):
        return None
    sentence = f"Answer with one of: {', '.join(context.labels)}."
    return content.edit(system_instruction=_with_sentence(content.system_instruction, sentence))


def constrain_to_labels(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    """Makes the output a choice among the train labels (a provider that scores choices picks the most likely)."""
    if not context.labels or content.output_type == "json":
        return None
    if content.output_type == "choice" and tuple(content.output_choices) == tuple(context.labels):
        return None
    # A choice has no room for reasoning, so an instruction to reason first would only contradict it.
    return _without_step_by_step(content).edit(output_type="choice", output_choices=tuple(context.labels))


def answer_only(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    """Asks for the bare answer, and lowers the token cap when every train answer is short."""
    if content.output_type == "json":
        return None
    short = bool(context.train) and all(len(example.expected) <= SHORT_ANSWER_CHARS for example in context.train)
    max_tokens = min(content.max_tokens, SHORT_ANSWER_MAX_TOKENS) if short else content.max_tokens
    present = ANSWER_ONLY in content.instruction_text
    if present and max_tokens == content.max_tokens:
        return None
    edited = _without_step_by_step(content)
    system_instruction = (
        edited.system_instruction if present else _with_sentence(edited.system_instruction, ANSWER_ONLY)
    )
    return edited.edit(system_instruction=system_instruction, max_tokens=max_tokens)


def use_completion_layout(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    """Switches to the plain completion layout (`Review: …` / `Output: …` blocks), the one small models continue best.

    Instruction lines before the first input line move to the system instruction: in this layout every
    demonstration repeats the template, and an instruction repeated per block would drown the pattern. The
    cue that ends each block is the renderer's: the template's own last line when it ends with ":", else
    `DEFAULT_OUTPUT_CUE` on a line of its own.
    """
    if content.layout == "completion":
        return None
    instruction, body = _split_leading_instruction(content.template)
    return content.edit(
        layout="completion",
        system_instruction=_with_sentence(content.system_instruction, instruction),
        template=body,
    )


def use_chat_layout(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    if content.layout == "chat":
        return None
    return content.edit(layout="chat")


def reorder_demos(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    """Shuffles the demonstrations: small models are sensitive to order, especially to the last one."""
    demos = list(content.demonstrations)
    if len(demos) < 2:
        return None
    shuffled = rng.sample(demos, len(demos))
    if shuffled == demos:
        shuffled = demos[1:] + demos[:1]
    return content.edit(demonstrations=tuple(shuffled))


def drop_demo(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    if not content.demonstrations:
        return None
    demos = list(content.demonstrations)
    del demos[rng.randrange(len(demos))]
    return content.edit(demonstrations=tuple(demos))


def add_demos_operator(max_demos: int) -> Operator:
    """An operator adding train demonstrations up to `max_demos` (fewer for long inputs), labels balanced."""

    def add_demos(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
        pool = demonstration_pool(context)
        room = demo_limit(pool, max_demos) - len(content.demonstrations)
        present = {inputs_key(inputs) for inputs, _output in content.demonstrations}
        candidates = [demo for demo in pool if inputs_key(demo[0]) not in present]
        if room <= 0 or not candidates:
            return None
        # For a label task add at least one per label, so a composed candidate shows every answer.
        wanted = rng.randint(min(room, max(len(context.labels), 1)), room)
        added = _balanced_additions(content.demonstrations, candidates, context.labels, wanted, rng)
        return content.edit(demonstrations=(*content.demonstrations, *added))

    return add_demos


def add_step_by_step(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    """Asks for reasoning first; only for free-text answers that are not restricted to the bare answer."""
    if (
        content.output_type != "text"
        or STEP_BY_STEP in content.instruction_text
        or ANSWER_ONLY in content.instruction_text
    ):
        return None
    return content.edit(
        system_instruction=_with_sentence(content.system_instruction, STEP_BY_STEP),
        max_tokens=max(content.max_tokens, STEP_BY_STEP_MIN_TOKENS),
    )


def remove_step_by_step(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    if STEP_BY_STEP not in content.instruction_text:
        return None
    return _without_step_by_step(content)


def shorten_instruction(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    """Drops one sentence of the system instruction, or else one instruction line of the template.

    Template lines holding a placeholder are never dropped (the input would go with them), nor is a last line
    ending with ":" (the output cue of the completion layout).
    """
    sentences = SENTENCE_END.split(content.system_instruction.strip())
    if len(sentences) >= 2:
        del sentences[rng.randrange(len(sentences))]
        return content.edit(system_instruction=" ".join(sentences))
    lines = content.template.splitlines()
    last_nonblank = max((index for index, line in enumerate(lines) if line.strip()), default=-1)
    droppable = [
        index
        for index, line in enumerate(lines)
        if line.strip()
        and not PLACEHOLDER.search(line)
        and not (index == last_nonblank and line.rstrip().endswith(":"))
    ]
    if not droppable:
        return None
    del lines[rng.choice(droppable)]
    return content.edit(template="\n".join(lines).strip("\n"))


def name_fields(content: PromptContent, context: ProposalContext, rng: random.Random) -> PromptContent | None:
    """Names the input and answer fields of a completion template (`Word: {{input}}` / `Antonym:`).

    A small model continues a pattern by its field names, so a name that says what the answer is (taken from
    the instruction's own noun phrases or from what the task model called the answer when shown train pairs,
    else a generic one) often decides between a right answer and a rambling
    one. Applies to completion templates with one input line; other lines are kept.
    """
    if content.layout != "completion":
        return None
    lines = content.template.rstrip().splitlines()
    cue_line = len(lines) - 1 if lines and lines[-1].rstrip().endswith(":") else None
    input_lines = [index for index, line in enumerate(lines) if PLACEHOLDER.search(line)]
    if len(input_lines) != 1 or not (match := INPUT_LINE.match(lines[input_lines[0]])):
        return None
    variable = match.group(1)
    phrases = instruction_phrases(content.instruction_text)
    input_names = _unique([variable.replace("_", " ").capitalize(), *phrases, *GENERIC_INPUT_NAMES])
    specific = _unique([*phrases, *context.answer_names])
    output_names = _unique([*specific, *GENERIC_OUTPUT_NAMES])
    pairs = [(given, wanted) for given in input_names for wanted in output_names if given != wanted]
    current = (lines[input_lines[0]].strip(), lines[cue_line].strip() if cue_line is not None else "")
    pairs = [pair for pair in pairs if (f"{pair[0]}: {{{{{variable}}}}}", f"{pair[1]}:") != current]
    if not pairs:
        return None
    # A name that says what the answer is beats a generic one, so those come first; once every specific name
    # has been tried as the answer field (by an earlier candidate), any pair may come.
    tried = {_answer_field(entry.content.template) for entry in context.history}
    untried = [pair for pair in pairs if pair[1] in specific and pair[1] not in tried]
    given, wanted = rng.choice(untried or pairs)
    lines[input_lines[0]] = f"{given}: {{{{{variable}}}}}"
    if cue_line is not None:
        lines[cue_line] = f"{wanted}:"
    else:
        lines.append(f"{wanted}:")
    return content.edit(template="\n".join(lines))


def _answer_field(template: str) -> str:
    """The answer field a completion template ends with ("Opposite" for `…\nOpposite:`), else ""."""
    lines = template.rstrip().splitlines()
    return lines[-1].strip()[:-1].strip() if lines and lines[-1].rstrip().endswith(":") else ""


def instruction_phrases(instruction: str) -> list[str]:
    """Short noun phrases the instruction names with "the" ("the first letter" gives "First letter")."""
    phrases: list[str] = []
    for match in INSTRUCTION_PHRASE.finditer(instruction):
        words: list[str] = []
        for word in match.group(1).split():
            if word.casefold() in PHRASE_STOPWORDS:
                break
            words.append(word.casefold())
        if words:
            phrases.append(" ".join(words).capitalize())
    return _unique(phrases)


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(name for name in names if name))


def operator_library(max_demos: int = DEFAULT_MAX_DEMOS) -> dict[str, EditOperator]:
    """Every operator by name, in the order a composition applies them (layout, then output, then demos)."""
    operators = [
        EditOperator("use_completion_layout", lambda context: "switch to the completion layout", use_completion_layout),
        EditOperator("use_chat_layout", lambda context: "switch to the chat layout", use_chat_layout),
        EditOperator("name_fields", lambda context: "name the input and answer fields", name_fields),
        EditOperator("constrain_to_labels", _describe_label_constraint, constrain_to_labels),
        EditOperator("state_labels", lambda context: "state the allowed labels", state_labels),
        EditOperator("answer_only", lambda context: "ask for the bare answer", answer_only),
        EditOperator("add_step_by_step", lambda context: "ask to think step by step", add_step_by_step),
        EditOperator("remove_step_by_step", lambda context: "stop asking to think step by step", remove_step_by_step),
        EditOperator("shorten_instruction", lambda context: "shorten the instruction", shorten_instruction),
        EditOperator("add_demos", lambda context: "add train demonstrations", add_demos_operator(max_demos)),
        EditOperator("drop_demo", lambda context: "drop a demonstration", drop_demo),
        EditOperator("reorder_demos", lambda context: "reorder the demonstrations", reorder_demos),
    ]
    return {operator.name: operator for operator in operators}


# Compositions tried before random ones, in order. For a small task model the big wins come together:
# a completion layout, answers constrained to the labels and a few demonstrations (see GUIDE.md, "What we
# measured about the embedded model"). Steps that do not apply are skipped, so each recipe degrades gracefully.
PRIORITY_RECIPES: tuple[tuple[str, ...], ...] = (
    ("use_completion_layout", "constrain_to_labels", "add_demos"),
    ("use_completion_layout", "name_fields", "add_demos"),
    ("use_completion_layout", "add_demos"),
    ("constrain_to_labels", "add_demos"),
    ("state_labels", "answer_only"),
)
# Random compositions apply one to three operators; two or fewer are likelier, so a win stays attributable.
COMPOSITION_SIZES = (1, 2, 3)
COMPOSITION_WEIGHTS = (3, 3, 2)
# Pairs a random composition never combines: the second would undo or contradict the first.
CONFLICTING_OPERATORS = (
    {"use_completion_layout", "use_chat_layout"},
    {"add_demos", "drop_demo"},
    {"add_step_by_step", "remove_step_by_step"},
    {"add_step_by_step", "answer_only"},
    {"add_step_by_step", "constrain_to_labels"},
    {"use_chat_layout", "name_fields"},
)


class MutationStrategy:
    """Proposes the incumbent edited by one to three operators: first the priority recipes that apply, then
    random compositions drawn with a generator seeded from the context."""

    name: ClassVar[str] = "mutations"
    needs_optimizer: ClassVar[bool] = False
    uses_answer_names: ClassVar[bool] = True  # the loop asks the task model to name the answer (answer_names.py)

    def __init__(self, *, max_demos: int = DEFAULT_MAX_DEMOS) -> None:
        self.operators = operator_library(max_demos)

    def propose(self, context: ProposalContext, count: int) -> list[Proposal]:
        if count <= 0:
            return []
        rng = random.Random(f"mutations:{context.seed}")  # noqa: S311 - reproducible, not a secret
        new_contents = NewContents(context)
        proposals: list[Proposal] = []
        recipes = [*self._priority_order(context), *self._random_recipes(rng, count * ATTEMPTS_PER_PROPOSAL)]
        for recipe in recipes:
            if len(proposals) >= count:
                break
            content, applied = self._apply(recipe, context, rng)
            if not applied or not new_contents.admit(content):
                continue
            steps = ", ".join(self.operators[name].describe(context) for name in applied)
            proposals.append(
                Proposal(
                    content=content,
                    strategy=self.name,
                    rationale=f"Mutations: {steps}.",
                    params={"operators": list(applied), "recipe": list(recipe)},
                )
            )
        return proposals

    def _priority_order(self, context: ProposalContext) -> list[tuple[str, ...]]:
        """The priority recipes, those this run has not tried yet first: with one mutation per iteration, the
        first recipe would otherwise come back every iteration (only its demonstrations differing) and the
        others would never get a turn. A recipe counts as tried when an earlier candidate was built by it, or
        by the same operators (a recipe whose inapplicable steps were skipped)."""
        tried = set()
        for entry in context.history:
            if entry.strategy == self.name:
                tried.add(tuple(entry.params.get("recipe", ())))
                tried.add(tuple(entry.params.get("operators", ())))
        untried = [recipe for recipe in PRIORITY_RECIPES if recipe not in tried]
        return [*untried, *(recipe for recipe in PRIORITY_RECIPES if recipe in tried)]

    def _random_recipes(self, rng: random.Random, attempts: int) -> list[tuple[str, ...]]:
        names = list(self.operators)
        recipes = []
        for _attempt in range(attempts):
            size = rng.choices(COMPOSITION_SIZES, weights=COMPOSITION_WEIGHTS)[0]
            chosen = set(rng.sample(names, size))
            if any(pair <= chosen for pair in CONFLICTING_OPERATORS):
                continue
            recipes.append(tuple(name for name in names if name in chosen))
        return recipes

    def _apply(
        self, recipe: Sequence[str], context: ProposalContext, rng: random.Random
    ) -> tuple[PromptContent, tuple[str, ...]]:
        content = context.incumbent
        applied: list[str] = []
        for name in recipe:
            edited = self.operators[name].apply(content, context, rng)
            if edited is not None and edited.key != content.key:
                content = edited
                applied.append(name)
        return content, tuple(applied)


# Helpers -----------------------------------------------------------------------------------------------------------


def _describe_label_constraint(context: ProposalContext) -> str:
    how = " (the provider picks the likeliest by log-probability)" if context.provider_scores_choices else ""
    return f"constrain the output to the {len(context.labels)} labels{how}"


def _with_sentence(text: str, sentence: str) -> str:
    text, sentence = text.strip(), sentence.strip()
    if not sentence:
        return text
    return f"{text}\n{sentence}" if text else sentence


def _without_sentence(text: str, sentence: str) -> str:
    lines = [line.replace(sentence, "").rstrip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line.strip() or not line).strip()


def _without_step_by_step(content: PromptContent) -> PromptContent:
    return content.edit(
        system_instruction=_without_sentence(content.system_instruction, STEP_BY_STEP),
        template=_without_sentence(content.template, STEP_BY_STEP),
    )


def _split_leading_instruction(template: str) -> tuple[str, str]:
    """(instruction lines before the first line with a placeholder, the rest); ("", template) if none."""
    lines = template.splitlines()
    first_input = next((index for index, line in enumerate(lines) if PLACEHOLDER.search(line)), None)
    if not first_input:
        return "", template
    return "\n".join(lines[:first_input]).strip(), "\n".join(lines[first_input:])


def _balanced_additions(
    current: Sequence[Demonstration],
    candidates: Sequence[Demonstration],
    labels: Sequence[str],
    wanted: int,
    rng: random.Random,
) -> list[Demonstration]:
    """`wanted` of the candidates; for a label task, each from the label the demonstrations show least."""
    shuffled = rng.sample(list(candidates), len(candidates))
    if not labels:
        return shuffled[:wanted]
    normalized_labels = {label.casefold().strip(): label for label in labels}
    shown = Counter(normalized_labels.get(output.casefold().strip()) for _inputs, output in current)
    added: list[Demonstration] = []
    while len(added) < wanted and shuffled:
        # Least-shown label first; ties keep the label order (most frequent in train first).
        by_need = sorted(labels, key=lambda label: shown[label])
        pick = next(
            (
                demo
                for label in by_need
                for demo in shuffled
                if normalized_labels.get(demo[1].casefold().strip()) == label
            ),
            shuffled[0],
        )
        shuffled.remove(pick)
        added.append(pick)
        shown[normalized_labels.get(pick[1].casefold().strip())] += 1
    return added
