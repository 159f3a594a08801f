"""Metric configuration: one pydantic model per metric, chosen by its name, or a weighted combination."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from promptopt.errors import InvalidInputError
from promptopt.input_limits import MAX_CHOICE_CHARS, MAX_CHOICES, MAX_NAME_CHARS, json_value_size_problem
from promptopt.json_schemas import schema_problem
from promptopt.safe_regex import PatternError, compile_pattern, flags_problem
from workflows.metrics.normalize import normalize_label


class MetricConfigBase(BaseModel):
    # Typos in parameter names must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str


class ExactMatchConfig(MetricConfigBase):
    """1 when the stripped output equals the stripped expected output."""

    name: Literal["exact_match"]


class NormalizedMatchConfig(MetricConfigBase):
    """1 when both sides are equal after SQuAD normalisation (case, punctuation, articles, spacing)."""

    name: Literal["normalized_match"]


class AnyAnswerConfig(MetricConfigBase):
    """1 when the normalised output equals any accepted answer (or the expected output)."""

    name: Literal["any_answer"]


class ContainsConfig(MetricConfigBase):
    """1 when an accepted answer (or the expected output) occurs in the output as whole words."""

    name: Literal["contains"]


class TokenF1Config(MetricConfigBase):
    """SQuAD token-overlap F1 against the best accepted answer."""

    name: Literal["token_f1"]


class ChrfConfig(MetricConfigBase):
    """Sentence chrF (sacrebleu), scaled to 0-1."""

    name: Literal["chrf"]


class BleuConfig(MetricConfigBase):
    """Sentence BLEU (sacrebleu), scaled to 0-1."""

    name: Literal["bleu"]


class RougeLConfig(MetricConfigBase):
    """ROUGE-L F-measure (rouge-score)."""

    name: Literal["rouge_l"]


class RegexConfig(MetricConfigBase):
    """1 when the whole stripped output matches the pattern."""

    name: Literal["regex"]
    # Declared before the pattern because fields validate in order and the pattern compiles with the flags.
    flags: str = ""
    pattern: str = Field(min_length=1)

    @field_validator("flags")
    @classmethod
    def _known_flags(cls, flags: str) -> str:
        problem = flags_problem(flags)
        if problem is not None:
            raise ValueError(problem)
        return flags

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str, info: ValidationInfo) -> str:
        # Compiled by RE2, as the metric will match it: linear-time matching is guaranteed by construction.
        try:
            compile_pattern(pattern, info.data.get("flags", ""))
        except PatternError as error:
            raise ValueError(str(error)) from None
        return pattern


class NumericConfig(MetricConfigBase):
    """1 when the last number in the output is within tolerance of the expected number."""

    name: Literal["numeric"]
    tolerance: float = Field(default=1e-6, ge=0, allow_inf_nan=False)
    relative_tolerance: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class ChoiceConfig(MetricConfigBase):
    """1 when the output names exactly one choice and it is the expected one."""

    name: Literal["choice"]
    choices: tuple[Annotated[str, Field(max_length=MAX_CHOICE_CHARS)], ...] | None = Field(
        default=None, min_length=2, max_length=MAX_CHOICES
    )

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: tuple[str, ...] | None) -> tuple[str, ...] | None:
        seen: dict[str, str] = {}
        for choice in choices or ():
            label = normalize_label(choice)
            if not label:
                raise ValueError(f"choice {choice!r} is blank once case and punctuation are ignored")
            if label in seen:
                raise ValueError(
                    f"choices {seen[label]!r} and {choice!r} are the same once case and punctuation are ignored"
                )
            seen[label] = choice
        return choices


class JsonValidConfig(MetricConfigBase):
    """1 when the output parses as JSON (a Markdown code fence around it is tolerated)."""

    name: Literal["json_valid"]


class JsonSchemaConfig(MetricConfigBase):
    """1 when the output is JSON that conforms to the schema."""

    # "schema" would shadow a (deprecated) BaseModel method, hence the alias.
    model_config = ConfigDict(serialize_by_alias=True)

    name: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        problem = schema_problem(schema)
        if problem is not None:
            raise ValueError(problem)
        return schema


class EmbeddingSimilarityConfig(MetricConfigBase):
    """Cosine similarity of sentence embeddings (optional 'embeddings' dependencies)."""

    name: Literal["embedding_similarity"]
    model_path: str | None = Field(default=None, min_length=1, max_length=4096)


class LlmJudgeConfig(MetricConfigBase):
    """A model grades the output against a versioned rubric; needs the gateway, so it is built per run."""

    name: Literal["llm_judge"]
    rubric: str = Field(default="correctness-v1", min_length=1, max_length=MAX_NAME_CHARS)
    provider: str | None = Field(default=None, max_length=MAX_NAME_CHARS)  # None: the version's own provider
    model: str | None = Field(default=None, max_length=MAX_NAME_CHARS)

    @field_validator("rubric")
    @classmethod
    def _known_rubric(cls, value: str) -> str:
        from workflows.metrics.judge import RUBRICS

        if value not in RUBRICS:
            raise ValueError(f"unknown rubric {value!r} (known: {', '.join(sorted(RUBRICS))})")
        return value


# Adding a metric: a config model here, listed in this union, and a factory in registry.METRIC_FACTORIES.
AnySingleMetricConfig: TypeAlias = (
    ExactMatchConfig
    | NormalizedMatchConfig
    | AnyAnswerConfig
    | ContainsConfig
    | TokenF1Config
    | ChrfConfig
    | BleuConfig
    | RougeLConfig
    | RegexConfig
    | NumericConfig
    | ChoiceConfig
    | JsonValidConfig
    | JsonSchemaConfig
    | EmbeddingSimilarityConfig
    | LlmJudgeConfig
)
SingleMetricConfig: TypeAlias = Annotated[AnySingleMetricConfig, Field(discriminator="name")]


class WeightedMetricConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: SingleMetricConfig
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)


MAX_COMBINED_METRICS = 20


class CombinedMetricConfig(MetricConfigBase):
    """The weighted mean of single metrics; combinations do not nest (that would add nothing)."""

    name: Literal["combine"] = "combine"
    combine: list[WeightedMetricConfig] = Field(min_length=1, max_length=MAX_COMBINED_METRICS)


def _name_the_combination(data: Any) -> Any:
    # A combination is written {"combine": [...]}; naming it "combine" lets one discriminator on "name"
    # choose among every config, rather than a union of unions that would add a second tag to error paths.
    if isinstance(data, Mapping) and "combine" in data and "name" not in data:
        return {**data, "name": "combine"}
    return data


MetricConfig: TypeAlias = Annotated[
    AnySingleMetricConfig | CombinedMetricConfig,
    Field(discriminator="name"),
    BeforeValidator(_name_the_combination),
]

_METRIC_CONFIG: TypeAdapter[MetricConfig] = TypeAdapter(MetricConfig)


def _config_name(model: type[MetricConfigBase]) -> str:
    name: str = get_args(model.model_fields["name"].annotation)[0]
    return name


SINGLE_METRIC_NAMES = tuple(_config_name(model) for model in get_args(AnySingleMetricConfig))
# Tags of the discriminated unions: pydantic puts them in error locations (combine.1.metric.regex.pattern).
_TAGS = frozenset((*SINGLE_METRIC_NAMES, _config_name(CombinedMetricConfig)))


def _field_path(location: tuple[int | str, ...]) -> list[int | str]:
    """The location as the user wrote it: without the union tags pydantic inserts after each metric."""
    path: list[int | str] = []
    for index, part in enumerate(location):
        following = location[index + 1] if index + 1 < len(location) else None
        if part in _TAGS and isinstance(following, str):
            continue
        path.append(part)
    return path


def _error_line(error: Mapping[str, Any]) -> str:
    path = _field_path(tuple(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "union_tag_invalid":
        available = ", ".join(SINGLE_METRIC_NAMES)
        message, path = f"unknown metric {error['ctx']['tag']!r}; available: {available}", [*path, "name"]
    elif error["type"] == "union_tag_not_found":
        nested = isinstance(error["input"], Mapping) and "combine" in error["input"]
        if nested:
            message = "combinations do not nest; list all their metrics in one 'combine'"
        elif path:
            message, path = "missing; every metric needs a name", [*path, "name"]
        else:
            message, path = "missing; give a metric 'name' or a 'combine' list of weighted metrics", ["name"]
    return f"{'.'.join(str(part) for part in path) or 'metric config'}: {message}"


def describe_config_errors(error: ValidationError) -> str:
    """One line per problem, each naming the field as written in the config, e.g. combine.1.metric.pattern."""
    return "\n".join(_error_line(line) for line in error.errors(include_url=False))


def parse_metric_config(data: Mapping[str, Any]) -> MetricConfig:
    """The validated config, or InvalidInputError whose message names every offending field."""
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"metric config: expected an object, got {type(data).__name__}")
    # Size, depth and characters first: a config may arrive already parsed (an API body, a stored run).
    problem = json_value_size_problem(dict(data))
    if problem is not None:
        raise InvalidInputError(f"metric config: {problem}")
    try:
        return _METRIC_CONFIG.validate_python(dict(data))
    except ValidationError as error:
        raise InvalidInputError(describe_config_errors(error)) from error
