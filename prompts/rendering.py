"""Renders a prompt's content and one example's inputs into provider-neutral chat messages and completion text.

Plain Python: nothing here imports Django, so the engine, the gateway and `bench/` can render without a database.
Rendering never evaluates anything. The only syntax is `{{name}}`; everything else in a template, and
everything in an input value, is copied literally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from promptopt.errors import InvalidInputError
from prompts.content import PromptContent
from prompts.placeholders import PLACEHOLDER, template_variables

Role = Literal["system", "user", "assistant"]

# Appended on its own line when the template does not already end with a cue of its own ("Sentiment:").
DEFAULT_OUTPUT_CUE = "Output:"


class RenderError(InvalidInputError):
    """A prompt cannot be rendered for an example: an input it uses is missing or is not text."""

    def __init__(self, message: str, *, missing: Iterable[str] = (), example_label: str | None = None) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.example_label = example_label


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class RenderedPrompt:
    layout: str
    # Both forms are always filled: the layout says which one the prompt prefers, and a chat-only provider can
    # still use the messages of a completion-layout prompt (or a completion provider the text of a chat one).
    messages: tuple[Message, ...]
    completion_text: str
    choices: tuple[str, ...]  # empty unless the output is a choice
    # Set for JSON outputs: providers that support it constrain decoding to this schema.
    json_schema: Mapping[str, Any] | None = None

    def cache_key_material(self) -> dict[str, Any]:
        """A canonical, JSON-serialisable description of what a provider may be sent; the gateway hashes it.

        Both forms are included, not only the one the layout prefers: a provider may send either, and the two
        can differ in whitespace a provider would see, so keying on one form alone could share a cache entry
        between two different requests.
        """
        return {
            "layout": self.layout,
            "messages": [{"role": message.role, "content": message.content} for message in self.messages],
            "completion_text": self.completion_text,
            "choices": list(self.choices),
            "json_schema": self.json_schema,
        }


def required_variables(content: PromptContent) -> list[str]:
    """The template's variables in order of first appearance; every one must be in an example's inputs."""
    return template_variables(content.template)


def render(content: PromptContent, inputs: Mapping[str, str], *, example_label: str | None = None) -> RenderedPrompt:
    """Renders the content for one example; raises RenderError naming any variable its inputs lack."""
    spec = content
    variables = required_variables(spec)
    subject = f"example {example_label!r}" if example_label is not None else "the example"
    _check_inputs(variables, inputs, subject=subject, example_label=example_label)
    # Creation-time validation refuses such demonstrations; checked again so a hand-built spec fails by name.
    for index, (demo_inputs, _output) in enumerate(spec.demonstrations, start=1):
        _check_inputs(variables, demo_inputs, subject=f"demonstration {index}", example_label=None)

    system_instruction = spec.system_instruction.strip()
    demonstrations = [(_substitute(spec.template, demo_inputs), output) for demo_inputs, output in spec.demonstrations]
    final = _substitute(spec.template, inputs)

    return RenderedPrompt(
        layout=spec.layout,
        messages=_chat_messages(system_instruction, demonstrations, final),
        completion_text=_completion_text(spec.template, system_instruction, spec.demonstrations, inputs),
        choices=tuple(spec.output_choices) if spec.output_type == "choice" else (),
        json_schema=spec.output_schema if spec.output_type == "json" else None,
    )


def _check_inputs(variables: list[str], inputs: Mapping[str, str], *, subject: str, example_label: str | None) -> None:
    missing = [name for name in variables if name not in inputs]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        noun = "input" if len(missing) == 1 else "inputs"
        raise RenderError(f"{subject} is missing {noun} {names}", missing=missing, example_label=example_label)
    # Only text is inserted: converting other objects would run their __str__, which is evaluation by another name.
    not_text = [name for name in variables if not isinstance(inputs[name], str)]
    if not_text:
        names = ", ".join(repr(name) for name in not_text)
        noun = "input" if len(not_text) == 1 else "inputs"
        raise RenderError(f"{subject} has non-text {noun} {names}", example_label=example_label)


def _substitute(template: str, inputs: Mapping[str, str]) -> str:
    # One pass with a callback: the replacement is inserted as is (a callback's result is not scanned for
    # backslash escapes or group references) and the output is never scanned again, so a value containing
    # `{{other}}`, `{0}` or `\1` stays literal. Malformed fragments such as `{{ x.y }}` or `{% if %}` do not
    # match PLACEHOLDER and are therefore left as they are.
    return PLACEHOLDER.sub(lambda match: inputs[match.group(1)], template)


def _chat_messages(system_instruction: str, demonstrations: list[tuple[str, str]], final: str) -> tuple[Message, ...]:
    messages: list[Message] = []
    if system_instruction:
        messages.append(Message(role="system", content=system_instruction))
    for user_turn, output in demonstrations:
        messages.append(Message(role="user", content=user_turn))
        messages.append(Message(role="assistant", content=output))
    messages.append(Message(role="user", content=final))
    return tuple(messages)


def _ends_with_cue(template: str) -> bool:
    # Decided from the template, not from the rendered text: an input value ending in ":" must not change the
    # prompt's layout, and every demonstration and the final example must share one cue so the model sees a
    # regular pattern to continue.
    lines = [line for line in template.splitlines() if line.strip()]
    return bool(lines) and lines[-1].rstrip().endswith(":")


def _completion_text(
    template: str,
    system_instruction: str,
    demonstrations: tuple[tuple[Mapping[str, str], str], ...],
    inputs: Mapping[str, str],
) -> str:
    # Trailing whitespace of the template would separate the cue from the answer; an input's own whitespace is
    # kept, since it is the example's data.
    body = template.rstrip()
    cue_separator = "" if _ends_with_cue(template) else "\n" + DEFAULT_OUTPUT_CUE

    blocks = [
        f"{_substitute(body, demo_inputs)}{cue_separator} {output.strip()}" for demo_inputs, output in demonstrations
    ]
    # The final block ends right at the cue: the model continues from there.
    blocks.append(f"{_substitute(body, inputs)}{cue_separator}")
    text = "\n\n".join(blocks)
    return f"{system_instruction}\n\n{text}" if system_instruction else text
