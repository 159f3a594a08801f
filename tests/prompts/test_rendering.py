"""Prompt rendering: chat and completion layouts, the output cue, choices, missing inputs, and literal braces."""

from __future__ import annotations

import json

import pytest

from promptopt.errors import InvalidInputError
from prompts.content import PromptContent
from prompts.rendering import Message, RenderedPrompt, RenderError, render, required_variables

REVIEW = "Review: {{text}}\nSentiment:"
DEMOS = (({"text": "Great"}, "positive"), ({"text": "Dull"}, "negative"))


def _spec(**overrides) -> PromptContent:
    return PromptContent(**{"template": REVIEW, **overrides})


# Chat layout


def test_it_renders_a_bare_template_as_a_single_user_message():
    rendered = render(_spec(), {"text": "Awful"})

    assert rendered.layout == "chat"
    assert rendered.messages == (Message(role="user", content="Review: Awful\nSentiment:"),)


def test_it_puts_the_system_instruction_first_and_demonstrations_as_earlier_turns():
    spec = _spec(system_instruction="Classify the review.", demonstrations=DEMOS)

    rendered = render(spec, {"text": "Awful"})

    assert rendered.messages == (
        Message(role="system", content="Classify the review."),
        Message(role="user", content="Review: Great\nSentiment:"),
        Message(role="assistant", content="positive"),
        Message(role="user", content="Review: Dull\nSentiment:"),
        Message(role="assistant", content="negative"),
        Message(role="user", content="Review: Awful\nSentiment:"),
    )


def test_it_leaves_out_a_blank_system_instruction():
    rendered = render(_spec(system_instruction="  \n\t"), {"text": "Awful"})

    assert [message.role for message in rendered.messages] == ["user"]


def test_it_renders_demonstrations_without_a_system_instruction():
    rendered = render(_spec(demonstrations=DEMOS[:1]), {"text": "Awful"})

    assert rendered.messages == (
        Message(role="user", content="Review: Great\nSentiment:"),
        Message(role="assistant", content="positive"),
        Message(role="user", content="Review: Awful\nSentiment:"),
    )


def test_it_fills_every_placeholder_including_repeated_ones_and_inner_spaces():
    spec = PromptContent(template="Translate {{ text }} into {{language}}. Again: {{text}}")

    rendered = render(spec, {"language": "French", "text": "cat"})

    assert rendered.messages[-1].content == "Translate cat into French. Again: cat"


def test_it_ignores_inputs_the_template_does_not_use():
    rendered = render(_spec(), {"text": "Awful", "id": "42", "notes": "{{text}}"})

    assert rendered.messages[-1].content == "Review: Awful\nSentiment:"


# Completion layout


def test_it_renders_the_issue_example_in_completion_layout():
    spec = _spec(layout="completion", demonstrations=DEMOS[:1])

    rendered = render(spec, {"text": "Awful"})

    assert rendered.layout == "completion"
    assert rendered.completion_text == "Review: Great\nSentiment: positive\n\nReview: Awful\nSentiment:"


def test_it_puts_the_system_instruction_and_a_blank_line_before_the_completion_text():
    spec = _spec(layout="completion", system_instruction="Classify the review.\n", demonstrations=DEMOS)

    rendered = render(spec, {"text": "Awful"})

    assert rendered.completion_text == (
        "Classify the review.\n\n"
        "Review: Great\nSentiment: positive\n\n"
        "Review: Dull\nSentiment: negative\n\n"
        "Review: Awful\nSentiment:"
    )


def test_it_renders_a_bare_completion_as_the_template_and_its_cue():
    rendered = render(_spec(layout="completion"), {"text": "Awful"})

    assert rendered.completion_text == "Review: Awful\nSentiment:"


def test_it_appends_an_output_cue_line_when_the_template_has_none():
    spec = PromptContent(
        template="Summarise: {{text}}", layout="completion", demonstrations=(({"text": "A long story"}, "Story"),)
    )

    rendered = render(spec, {"text": "Another tale"})

    assert rendered.completion_text == "Summarise: A long story\nOutput: Story\n\nSummarise: Another tale\nOutput:"


def test_it_uses_the_templates_last_non_empty_line_as_the_cue_even_with_trailing_blank_lines():
    spec = PromptContent(
        template="Q: {{question}}\nA:\n\n  \n", layout="completion", demonstrations=(({"question": "1+1"}, "2\n"),)
    )

    rendered = render(spec, {"question": "2+2"})

    assert rendered.completion_text == "Q: 1+1\nA: 2\n\nQ: 2+2\nA:"


def test_it_does_not_let_an_input_ending_in_a_colon_change_the_cue():
    spec = PromptContent(template="Text: {{text}}", layout="completion", demonstrations=(({"text": "Note:"}, "memo"),))

    rendered = render(spec, {"text": "Subject:"})

    assert rendered.completion_text == "Text: Note:\nOutput: memo\n\nText: Subject:\nOutput:"


def test_it_fills_both_forms_whatever_the_layout():
    chat = render(_spec(layout="chat", demonstrations=DEMOS[:1]), {"text": "Awful"})
    completion = render(_spec(layout="completion", demonstrations=DEMOS[:1]), {"text": "Awful"})

    assert chat.completion_text == completion.completion_text
    assert chat.messages == completion.messages
    assert completion.messages[-1] == Message(role="user", content="Review: Awful\nSentiment:")


# Choices


def test_it_carries_the_choices_of_a_choice_output():
    spec = _spec(output_type="choice", output_choices=("positive", "negative"))

    assert render(spec, {"text": "Awful"}).choices == ("positive", "negative")


def test_it_carries_no_choices_for_other_output_types():
    assert render(_spec(output_type="text"), {"text": "Awful"}).choices == ()
    assert render(_spec(output_type="json", output_choices=("stale",)), {"text": "Awful"}).choices == ()


# Missing or unusable inputs


def test_it_names_the_missing_variable_and_the_example():
    spec = PromptContent(template="{{title}}: {{text}} ({{language}})")

    with pytest.raises(RenderError) as caught:
        render(spec, {"text": "Awful"}, example_label="row 7")

    assert str(caught.value) == "example 'row 7' is missing inputs 'title', 'language'"
    assert caught.value.missing == ("title", "language")
    assert caught.value.example_label == "row 7"


def test_it_names_the_missing_variable_without_an_example_label():
    with pytest.raises(RenderError, match=r"^the example is missing input 'text'$"):
        render(_spec(), {"txt": "Awful"})


def test_it_is_an_invalid_input_error_so_every_interface_maps_it_the_same_way():
    with pytest.raises(InvalidInputError):
        render(_spec(), {})


def test_it_names_a_demonstration_that_lacks_a_variable():
    spec = _spec(demonstrations=(({"text": "Great"}, "positive"), ({"body": "Dull"}, "negative")))

    with pytest.raises(RenderError, match=r"^demonstration 2 is missing input 'text'$"):
        render(spec, {"text": "Awful"})


def test_it_refuses_an_input_that_is_not_text_rather_than_converting_it():
    with pytest.raises(RenderError, match=r"^example 'row 1' has non-text input 'text'$"):
        render(_spec(), {"text": 5}, example_label="row 1")


def test_it_refuses_an_unknown_layout():
    with pytest.raises(InvalidInputError, match=r"^layout must be one of chat, completion, not 'prose'$"):
        PromptContent(template=REVIEW, layout="prose")


# Nothing is evaluated: braces in inputs and malformed syntax in templates stay literal

HOSTILE_INPUTS = [
    "{{x}}",
    "{{text}}",
    "{{ text }}",
    "{0}",
    "{0.__class__}",
    "{% if %}yes{% endif %}",
    "{{__class__}}",
    "{{ x.y }}",
    r"\1 \g<1> \n",
    "}}{{",
]


@pytest.mark.parametrize("value", HOSTILE_INPUTS)
@pytest.mark.parametrize("layout", ["chat", "completion"])
def test_it_inserts_input_text_verbatim_and_never_expands_it_again(value, layout):
    spec = PromptContent(
        template="A={{a}} B={{text}} C={{x}}",
        layout=layout,
        demonstrations=(({"a": value, "text": "t", "x": "x"}, "out"),),
    )

    rendered = render(spec, {"a": value, "text": "TEXT", "x": "X"})

    assert rendered.messages[-1].content == f"A={value} B=TEXT C=X"
    assert rendered.messages[0].content == f"A={value} B=t C=x"
    assert rendered.completion_text == f"A={value} B=t C=x\nOutput: out\n\nA={value} B=TEXT C=X\nOutput:"


def test_it_does_not_expand_an_input_equal_to_its_own_placeholder():
    rendered = render(PromptContent(template="{{text}}|{{text}}"), {"text": "{{text}}"})

    assert rendered.messages[-1].content == "{{text}}|{{text}}"


def test_it_treats_a_dunder_placeholder_as_an_ordinary_variable():
    spec = PromptContent(template="Look: {{__class__}}")

    assert required_variables(spec) == ["__class__"]
    with pytest.raises(RenderError, match=r"^the example is missing input '__class__'$"):
        render(spec, {"text": "Awful"})
    assert render(spec, {"__class__": "plain text"}).messages[-1].content == "Look: plain text"


@pytest.mark.parametrize(
    "fragment",
    ["{0.__class__}", "{{ x.y }}", "{% if x %}yes{% endif %}", "{{ x|upper }}", "{{x", "{text}", "{{{text}}}"],
)
def test_it_renders_malformed_template_syntax_literally(fragment):
    spec = PromptContent(template=f"{fragment} / {{{{text}}}}")

    rendered = render(spec, {"text": "T", "x": "X"})

    # `{{{text}}}` is a placeholder wrapped in single braces: only the inner `{{text}}` is replaced.
    expected_fragment = "{T}" if fragment == "{{{text}}}" else fragment
    assert rendered.messages[-1].content == f"{expected_fragment} / T"


def test_it_lists_required_variables_in_order_of_first_appearance():
    spec = PromptContent(template="{{b}} {{ a }} {{b}} {{ x.y }} {{c}}")

    assert required_variables(spec) == ["b", "a", "c"]


# Building a spec from a version's content


def test_it_builds_a_spec_from_version_content():
    content = {
        "system_instruction": "Classify.",
        "template": REVIEW,
        "demonstrations": [{"inputs": {"text": "Great"}, "output": "positive"}],
        "output_type": "choice",
        "output_choices": ["positive", "negative"],
        "output_schema": None,
        "provider": "local",
        "model_name": "",
        "temperature": 0.0,
        "max_tokens": 256,
    }

    spec = PromptContent.from_dict(content)

    assert spec == PromptContent(
        template=REVIEW,
        system_instruction="Classify.",
        demonstrations=(({"text": "Great"}, "positive"),),
        layout="chat",
        output_type="choice",
        output_choices=("positive", "negative"),
    )
    content["demonstrations"][0]["inputs"]["text"] = "changed later"
    assert spec.demonstrations[0][0] == {"text": "Great"}


def test_it_reads_an_explicit_layout_from_content():
    spec = PromptContent.from_dict({"template": REVIEW, "layout": "completion"})

    assert spec.layout == "completion"
    assert render(spec, {"text": "Awful"}).completion_text == "Review: Awful\nSentiment:"


# Cache key material


def _material(rendered: RenderedPrompt) -> str:
    return json.dumps(rendered.cache_key_material(), sort_keys=True)


def test_it_describes_exactly_what_would_be_sent_for_caching():
    spec = _spec(system_instruction="Classify.", output_type="choice", output_choices=("positive", "negative"))

    assert render(spec, {"text": "Awful"}).cache_key_material() == {
        "layout": "chat",
        "messages": [
            {"role": "system", "content": "Classify."},
            {"role": "user", "content": "Review: Awful\nSentiment:"},
        ],
        "completion_text": "Classify.\n\nReview: Awful\nSentiment:",
        "choices": ["positive", "negative"],
        "json_schema": None,
    }


def test_it_gives_equal_renders_the_same_cache_material_and_different_inputs_different_material():
    spec = PromptContent(template="{{a}} and {{b}}", demonstrations=(({"a": "1", "b": "2"}, "3"),))

    first = render(spec, {"a": "x", "b": "y"})
    again = render(spec, {"b": "y", "a": "x", "unused": "ignored"})

    assert _material(first) == _material(again)
    assert _material(first) != _material(render(spec, {"a": "x", "b": "z"}))
    assert _material(first) != _material(render(spec, {"a": "X", "b": "y"}))
    assert _material(first) != _material(render(spec, {"a": "x ", "b": "y"}))


def test_it_gives_different_cache_material_for_different_layouts_and_choices():
    chat = render(_spec(), {"text": "Awful"})

    assert _material(chat) != _material(render(_spec(layout="completion"), {"text": "Awful"}))
    assert _material(chat) != _material(
        render(_spec(output_type="choice", output_choices=("positive", "negative")), {"text": "Awful"})
    )
