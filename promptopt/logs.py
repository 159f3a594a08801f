"""One logging setup for web, workers and commands, with request and run ids on every line."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
run_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [request=%(request_id)s run=%(run_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(run_id)s %(message)s"


class ContextFilter(logging.Filter):
    """Copies the current request id and run id onto each record so every formatter can show them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.run_id = run_id_var.get()
        return True


@contextmanager
def log_context(*, run_id: object | None = None, request_id: str | None = None) -> Iterator[None]:
    """Tag every log line inside the block; workers wrap a run's whole execution in this."""
    tokens: list[tuple[contextvars.ContextVar[str], contextvars.Token[str]]] = []
    if run_id is not None:
        tokens.append((run_id_var, run_id_var.set(str(run_id))))
    if request_id is not None:
        tokens.append((request_id_var, request_id_var.set(request_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def build_logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    formatter: dict[str, Any]
    if log_format == "json":
        formatter = {"()": "pythonjsonlogger.json.JsonFormatter", "format": JSON_FIELDS}
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "promptopt.logs.ContextFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": "default"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # django-q2 configures its own logger; route it through ours so worker lines look the same.
            "django-q": {"handlers": ["console"], "level": level, "propagate": False},
            "django.db.backends": {"level": "INFO"},
            # django-axes logs every sign-in at INFO, even a successful one that reset nothing; lockouts are
            # logged at WARNING, which is what an operator needs to see.
            "axes": {"level": "WARNING"},
        },
    }
