"""Configured secrets never reach a log line: every log record is made with them cut out of its message.

Done in the log record factory rather than in a handler's filter so that every handler sees the redacted
text, including ones that other code attaches (pytest's capture, an error reporter). Providers also cut their
own credentials out of server error text before it is stored (see the Hugging Face provider)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

REDACTED = "[redacted]"
# Shorter values are not redacted: replacing a two-letter "secret" everywhere would garble every line.
MIN_SECRET_LENGTH = 8


def configured_secrets() -> list[str]:
    """The secret values of this deployment, read from the settings at the time of asking."""
    from django.conf import settings

    if not settings.configured:
        return []
    values = [
        settings.SECRET_KEY,
        settings.SIMPLE_JWT.get("SIGNING_KEY"),
        getattr(settings, "API_KEY_PEPPER", None),
        getattr(settings, "HF_TOKEN", None),
        getattr(settings, "METRICS_TOKEN", None),
        settings.DATABASES.get("default", {}).get("PASSWORD"),
        urlsplit(str(settings.CACHES.get("default", {}).get("LOCATION") or "")).password,  # Redis's, if any
    ]
    return [value for value in values if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH]


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def install_log_redaction(secrets: Callable[[], list[str]] = configured_secrets) -> None:
    """Wrap the log record factory once per process so each record's message leaves with secrets cut out."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_secrets", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        values = secrets()
        if values:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # arguments that do not fit the format: logging reports it later
                return record
            cleaned = redact(message, values)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and not record.exc_text:
                # Formatted once here, redacted, and kept: handlers print exc_text instead of formatting again.
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info), values)
        return record

    make_record.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
