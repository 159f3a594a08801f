"""A scored output as the fields of a Prediction row: one mapping for every path that records predictions
(an optimization run's steps, its final test, an evaluation)."""

from __future__ import annotations

from workflows.engine.state import Scored


def prediction_fields(scored: Scored) -> dict[str, object]:
    return {
        "output": scored.output,
        "score": scored.score,
        "feedback": scored.feedback,
        "error": scored.error[:2000],
        "latency_ms": scored.latency_ms,
        "input_tokens": scored.input_tokens,
        "output_tokens": scored.output_tokens,
        "cached": scored.cached,
    }
