"""The forms that start an optimization run or an evaluation, shared by the admin and the web UI.

They only collect what a person fills in; the services (`run_plan`, `run_create`, `evaluation_create`) check
it, with the same defaults and option assembly (`run_config_from_options`) as the API and the commands.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.actors import Actor
from accounts.models import Team
from accounts.scope import writable_by
from promptopt.form_fields import LimitedJSONField
from promptopt.input_limits import MAX_SEED
from prompts.models import DatasetVersion, PromptVersion
from prompts.models import Provider as ProviderName
from prompts.splits import SPLIT_CHOICES, Split
from workflows.engine.config import DEFAULT_ITERATIONS, MAX_ITERATIONS, run_config_from_options
from workflows.engine.strategies.registry import STRATEGY_NAMES
from workflows.evaluation_config import evaluation_config_from_options
from workflows.metrics.config import SINGLE_METRIC_NAMES

PROVIDER_CHOICES = [("", "The version's own"), *ProviderName.choices]


class VersionChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.prompt.name} v{obj.number}"


class DatasetVersionChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        counts = ", ".join(f"{split} {count}" for split, count in (obj.split_counts or {}).items())
        return f"{obj.dataset.name} v{obj.number} ({counts})"


class TargetForm(forms.Form):
    """A version and a dataset version the actor may write to (in one team, when the page has one)."""

    version = VersionChoiceField(queryset=PromptVersion.objects.none(), help_text="The prompt version to use.")
    dataset_version = DatasetVersionChoiceField(queryset=DatasetVersion.objects.none(), label="Dataset version")
    metric = forms.CharField(
        required=False,
        help_text=(
            f"Blank: the version's usual metric. A name ({', '.join(SINGLE_METRIC_NAMES)}) or a JSON config such "
            'as {"name": "regex", "pattern": "…"}.'
        ),
    )

    def __init__(self, *args: Any, actor: Actor, team: Team | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions = writable_by(PromptVersion, actor).select_related("prompt").order_by("prompt__name", "-number")
        datasets = writable_by(DatasetVersion, actor).select_related("dataset").order_by("dataset__name", "-number")
        if team is not None:
            versions = versions.filter(prompt__team=team)
            datasets = datasets.filter(dataset__team=team)
        self.fields["version"].queryset = versions  # type: ignore[attr-defined]
        self.fields["dataset_version"].queryset = datasets  # type: ignore[attr-defined]

    def metric_config(self) -> dict[str, Any] | None:
        text: str = self.cleaned_data["metric"].strip()
        if not text:
            return None
        if text.startswith("{"):
            return dict(LimitedJSONField().clean(text))
        return {"name": text}


class RunStartForm(TargetForm):
    strategies = forms.MultipleChoiceField(
        choices=[(name, name) for name in STRATEGY_NAMES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked for auto: every strategy that can work with what is configured.",
    )
    task_provider = forms.ChoiceField(choices=PROVIDER_CHOICES, required=False, label="Task provider")
    task_model = forms.CharField(required=False, max_length=200, help_text="Blank: the provider's default model.")
    optimizer_provider = forms.ChoiceField(
        choices=[("", "None (mutations and demonstrations only)"), *ProviderName.choices],
        required=False,
        help_text="The model that critiques and rewrites prompts.",
    )
    optimizer_model = forms.CharField(required=False, max_length=200)
    iterations = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ITERATIONS,
        help_text=f"Blank: as many as the call budget pays for, else {DEFAULT_ITERATIONS}.",
    )
    prefer = forms.ChoiceField(
        choices=[("best", "The best on validation"), ("shorter", "The cheapest within noise of the best")],
        required=False,
        label="Winner",
        help_text="Cheapest: the fewest prompt tokens per call among prompts not significantly below the best "
        "that also beat the baseline beyond noise; every later call sends fewer prompt tokens.",
    )
    max_calls = forms.IntegerField(required=False, min_value=1, help_text="Most provider calls, final test included.")
    max_tokens = forms.IntegerField(required=False, min_value=1)
    max_cost = forms.DecimalField(required=False, min_value=0, decimal_places=4, label="Max cost (USD)")
    max_seconds = forms.FloatField(required=False, min_value=1, label="Max seconds")
    seed = forms.IntegerField(required=False, min_value=0, max_value=MAX_SEED, help_text="Blank: 0.")
    config = LimitedJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Any other run settings, e.g. {"minibatch_size": 8, "selection": "ucb"}; the fields above win.',
    )

    def run_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        numbers = ("iterations", "max_calls", "max_tokens", "max_seconds", "seed")
        options: dict[str, Any] = {name: data.get(name) for name in numbers}
        for name in ("task_provider", "task_model", "optimizer_provider", "optimizer_model", "prefer"):
            options[name] = (data.get(name) or "").strip() or None  # blank: the default
        options["max_cost"] = float(data["max_cost"]) if data.get("max_cost") is not None else None
        options |= {"strategies": data["strategies"], "metric": self.metric_config()}
        base = data.get("config")
        if base is not None and not isinstance(base, dict):
            raise ValidationError({"config": "must be a JSON object"})
        return run_config_from_options(options, base)


class EvaluationStartForm(TargetForm):
    split = forms.ChoiceField(choices=SPLIT_CHOICES, initial=Split.TEST.value)
    max_calls = forms.IntegerField(required=False, min_value=1)
    fresh = forms.BooleanField(required=False, help_text="Ask the model again even when the cache has the answer.")

    def evaluation_config(self) -> dict[str, Any]:
        return evaluation_config_from_options(
            metric=self.metric_config(), max_calls=self.cleaned_data.get("max_calls"), fresh=self.cleaned_data["fresh"]
        )
