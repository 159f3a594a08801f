"""Django system checks for settings that would make background work unsafe."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def task_timeout_below_retry(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """django-q2 hands a task to another worker after `retry` seconds; a task allowed to run longer
    (`timeout`) would then run twice at once."""
    cluster = getattr(settings, "Q_CLUSTER", {})
    timeout, retry = cluster.get("timeout"), cluster.get("retry")
    if timeout is None or retry is None or timeout < retry:
        return []
    return [
        Error(
            f"Q_CLUSTER timeout ({timeout}s) must be below retry ({retry}s)",
            hint="Lower TASK_TIMEOUT_SECONDS, or raise the retry delay in promptopt/settings.py.",
            id="promptopt.E001",
        )
    ]
