"""Template filters of the web UI: scores, intervals, durations, and reading a dict by a variable key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

register = template.Library()


@register.filter
def score(value: float | None, digits: int = 3) -> str:
    """0.3809 → "0.381"; a missing score is a dash."""
    return "—" if value is None else f"{value:.{digits}f}"


@register.filter
def signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


@register.filter
def duration(seconds: float | None) -> str:
    """83.4 → "1 min 23 s"; hours when it runs that long."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s" if seconds < 10 else f"{secs} s"


@register.filter
def get(mapping: Mapping[str, Any] | None, key: str) -> Any:
    return (mapping or {}).get(key)


@register.filter
def share(used: float | None, limit: float | None) -> int:
    """How much of a budget is used, in percent (0 to 100) for a <progress>; 0 without a limit."""
    if not used or not limit:
        return 0
    return min(100, round(100 * float(used) / float(limit)))


@register.simple_tag(takes_context=True)
def query_without(context: template.Context, *names: str) -> str:
    """The page's query string without these parameters, ending in "&" when not empty (to append one)."""
    params = context["request"].GET.copy()
    for name in names:
        params.pop(name, None)
    encoded: str = params.urlencode()
    return f"{encoded}&" if encoded else ""
