"""The playground: render a version with variables typed in, and run it once on a chosen provider."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpResponse

from promptopt.errors import PromptOptError
from promptopt.input_limits import MAX_TEXT_CHARS
from promptopt.ui import TeamRequest, page, team_page
from prompts.models import PromptVersion
from prompts.placeholders import template_variables
from prompts.selectors import prompt_get
from workflows.forms import PROVIDER_CHOICES
from workflows.playground import playground_render, playground_run


class PlaygroundForm(forms.Form):
    provider = forms.ChoiceField(choices=PROVIDER_CHOICES, required=False)
    model = forms.CharField(required=False, max_length=200, help_text="Blank: the provider's default model.")

    def __init__(self, *args: Any, variables: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in variables:
            self.fields[f"var_{name}"] = forms.CharField(
                label=name, required=False, max_length=MAX_TEXT_CHARS, widget=forms.Textarea(attrs={"rows": 2})
            )

    def inputs(self, variables: list[str]) -> dict[str, str]:
        return {name: self.cleaned_data[f"var_{name}"] for name in variables}


@team_page
def playground(request: TeamRequest, prompt: str, number: int) -> HttpResponse:
    found = prompt_get(actor=request.actor, team=request.team, slug=prompt)
    version = PromptVersion.objects.filter(prompt=found, number=number).select_related("prompt__team").first()
    if version is None:
        raise Http404(f"prompt {found.slug!r} has no version {number}")
    variables = template_variables(version.template)
    form = PlaygroundForm(request.POST or None, variables=variables)
    context: dict[str, Any] = {"prompt": found, "version": version, "form": form}
    if request.method == "POST" and form.is_valid():
        inputs = form.inputs(variables)
        try:
            if request.POST.get("action") == "run" and request.can_write:
                context["result"] = playground_run(
                    version=version,
                    inputs=inputs,
                    provider=form.cleaned_data["provider"],
                    model=form.cleaned_data["model"],
                    actor=request.actor,
                )
                context["rendered"] = context["result"].rendered
            else:
                context["rendered"] = playground_render(version=version, inputs=inputs)
        except PromptOptError as error:
            form.add_error(None, str(error))
    template = (
        "ui/prompts/_playground_result.html" if request.headers.get("HX-Request") else "ui/prompts/playground.html"
    )
    return page(request, template, context)
