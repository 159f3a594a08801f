"""Which surface a change came through — the web UI, the API, the admin, a management command or a background
worker — so the audit log can say so without every service growing a parameter for it.

Requests get theirs from `SurfaceMiddleware` (by URL prefix); workers wrap a job in `acting_from(WORKER)`;
anything else (management commands, a shell) is a command.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import models


class Surface(models.TextChoices):
    UI = "ui", "Web UI"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"
    WORKER = "worker", "Worker"


_current: contextvars.ContextVar[Surface] = contextvars.ContextVar("surface", default=Surface.COMMAND)

# Where promptopt/urls.py mounts the API and the admin; every other page is the web UI.
_PREFIXES = (("/api/", Surface.API), ("/admin/", Surface.ADMIN))


def current_surface() -> Surface:
    return _current.get()


def surface_of_path(path: str) -> Surface:
    return next((surface for prefix, surface in _PREFIXES if path.startswith(prefix)), Surface.UI)


@contextmanager
def acting_from(surface: Surface) -> Iterator[None]:
    token = _current.set(surface)
    try:
        yield
    finally:
        _current.reset(token)
