"""The bad-input corpus's API part: request bodies and parameters as a hostile or careless client sends them
(wrong types, huge strings, negative budgets, unknown fields, another team's ids, malformed JSON), each with
the status and the error text it must get. tests/bad_inputs/test_api_corpus.py sends each one as the team's
owner and checks the answer, the time it took and that nothing was written."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

P = "prompts/base"
RUNS = "runs/"
RUN = {"prompt": "base", "dataset": "reviews"}


@dataclass(frozen=True)
class BadRequest:
    name: str
    method: str
    path: str  # under /api/v1/teams/acme/, or under /api/v1/ when it starts with "teams/"
    status: int
    error: str  # a regular expression searched for in the response body
    body: object = None  # sent as JSON unless raw is given
    raw: Callable[[], bytes] | None = None  # a body sent as it is, with content_type
    content_type: str = "application/json"


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


API_CASES = [
    # --- wrong types and shapes
    BadRequest("a prompt name that is a list", "post", "prompts/", 400, r'"name"', {"name": ["a", "b"]}),
    BadRequest("a prompt body that is a list", "post", "prompts/", 400, r"dictionary|object", [1, 2]),
    BadRequest(
        "a version whose max_tokens is a string",
        "post",
        f"{P}/versions/",
        400,
        r"max_tokens",
        {"template": "Review: {{text}}", "max_tokens": "many"},
    ),
    BadRequest(
        "a version whose temperature is NaN",
        "post",
        f"{P}/versions/",
        400,
        r"NaN",
        raw=lambda: b'{"template": "Review: {{text}}", "temperature": NaN}',
    ),
    BadRequest(
        "a label moved to version 'latest'", "put", f"{P}/labels/production/", 400, r"version", {"version": "latest"}
    ),
    BadRequest("a run config that is a string", "post", RUNS, 400, r"config", {**RUN, "config": "fast please"}),
    # --- huge strings
    BadRequest("a 1 MB prompt name", "post", "prompts/", 400, r"name", {"name": "n" * (1024 * 1024)}),
    BadRequest(
        "a 1 MB template with its placeholder",
        "post",
        f"{P}/versions/",
        400,
        r"template",
        {"template": "{{text}} " + "x" * (1024 * 1024)},
    ),
    BadRequest(
        "a 12 MB body",
        "post",
        "prompts/",
        413,
        r"too large|Too Large",
        raw=lambda: json.dumps({"name": "x", "description": "d" * (12 * 1024 * 1024)}).encode(),
    ),
    BadRequest(
        "a commit message with a NUL",
        "post",
        f"{P}/versions/",
        400,
        r"control character U\+0000",
        {"template": "Review: {{text}}!", "commit_message": "bad\x00message"},
    ),
    # --- budgets and numbers out of range
    BadRequest(
        "a negative call budget", "post", RUNS, 400, r"max_calls", {**RUN, "config": {"budget": {"max_calls": -5}}}
    ),
    BadRequest(
        "a zero time budget",
        "post",
        RUNS,
        400,
        r"max_seconds|budget",
        {**RUN, "config": {"budget": {"max_seconds": 0}}},
    ),
    BadRequest(
        "a negative cost budget",
        "post",
        RUNS,
        400,
        r"max_cost|budget",
        {**RUN, "config": {"budget": {"max_cost_usd": -1}}},
    ),
    BadRequest(
        "a call budget of 10^30", "post", RUNS, 400, r"max_calls", {**RUN, "config": {"budget": {"max_calls": 10**30}}}
    ),
    BadRequest("a seed that is a float", "post", RUNS, 400, r"seed", {**RUN, "config": {"seed": 1.5}}),
    BadRequest("iterations of a thousand", "post", RUNS, 400, r"iterations", {**RUN, "config": {"iterations": 1000}}),
    BadRequest("page_size -1", "get", "prompts/?page_size=-1", 400, r"page_size|page"),
    BadRequest("page 0", "get", "prompts/?page=0", 404, r"page|Page"),
    # --- unknown fields
    BadRequest("an unknown run config key", "post", RUNS, 400, r"iteratoins", {**RUN, "config": {"iteratoins": 3}}),
    BadRequest(
        "an unknown budget key",
        "post",
        RUNS,
        400,
        r"max_call\b|max_call'",
        {**RUN, "config": {"budget": {"max_call": 3}}},
    ),
    BadRequest("an unknown metric", "post", RUNS, 400, r"metric", {**RUN, "config": {"metric": {"name": "vibes"}}}),
    BadRequest("an unknown strategy", "post", RUNS, 400, r"strateg", {**RUN, "config": {"strategies": ["magic"]}}),
    BadRequest("an unknown filter value", "get", "runs/?status=sleeping", 400, r"status"),
    # --- another team's ids (Globex has a prompt "secret" and a dataset "vault")
    BadRequest("another team's prompt", "get", "teams/globex/prompts/secret/", 404, r"globex"),
    BadRequest("a run on another team's dataset", "post", RUNS, 404, r"vault", {"prompt": "base", "dataset": "vault"}),
    BadRequest(
        "a run on another team's prompt", "post", RUNS, 404, r"secret", {"prompt": "secret", "dataset": "reviews"}
    ),
    BadRequest(
        "an evaluation on another team's dataset",
        "post",
        "evaluations/",
        404,
        r"vault",
        {"prompt": "base", "dataset": "vault", "split": "test"},
    ),
    BadRequest(
        "a label moved to a version that does not exist",
        "put",
        f"{P}/labels/production/",
        400,
        r"version",
        {"version": 99},
    ),
    # --- malformed JSON
    BadRequest("JSON nested 10^4 deep", "post", "prompts/", 400, r"nest", raw=lambda: _nested(10_000)),
    BadRequest(
        "a repeated key", "post", "prompts/", 400, r"'name' appears twice", raw=lambda: b'{"name": "a", "name": "b"}'
    ),
    BadRequest(
        "a body that is not UTF-8",
        "post",
        "prompts/",
        400,
        r"not utf-8 text",
        raw=lambda: '{"name": "caf\xe9"}'.encode("latin-1"),
    ),
    BadRequest("a truncated body", "post", "prompts/", 400, r"JSON", raw=lambda: b'{"name": "trunc'),
    BadRequest("an empty body", "post", "prompts/", 400, r"name", raw=lambda: b""),
    BadRequest(
        "a body as form data",
        "post",
        "prompts/",
        415,
        r"Unsupported media type",
        raw=lambda: b"name=x",
        content_type="application/x-www-form-urlencoded",
    ),
    # --- templates and patterns
    BadRequest(
        "an unbalanced placeholder", "post", f"{P}/versions/", 400, r"template", {"template": "Review: {{text}"}
    ),
    BadRequest(
        "a template with code", "post", f"{P}/versions/", 400, r"template", {"template": "{{ text.__class__.__mro__ }}"}
    ),
    BadRequest(
        "a catastrophic regex metric",
        "post",
        RUNS,
        400,
        r"pattern|regex",
        {**RUN, "config": {"metric": {"name": "regex", "pattern": "(a+)+$(?=b)\\1"}}},
    ),
    BadRequest("a label name with a slash", "put", f"{P}/labels/a%2Fb/", 404, r"Not Found|label", {"version": 1}),
]
