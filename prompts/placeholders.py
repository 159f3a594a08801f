"""Finds and checks `{{name}}` placeholders in prompt templates; never evaluates anything."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A well-formed placeholder: double braces around one identifier, optional inner spaces.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Anything that looks like template syntax; compared with PLACEHOLDER to find malformed ones.
BRACED = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}", re.DOTALL)


def template_variables(template: str) -> list[str]:
    """Placeholder names in order of first appearance, without duplicates."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER.finditer(template):
        seen.setdefault(match.group(1), None)
    return list(seen)


# Openers left over once every complete `{{…}}` / `{%…%}` is taken out: an unclosed placeholder. Stray
# closers are not flagged: nested JSON in an instruction (`{"a": {"b": 1}}`) ends in `}}` legitimately.
STRAY_OPENER = re.compile(r"\{\{|\{%")


def malformed_placeholders(template: str) -> list[str]:
    """Template-like fragments that are not plain `{{name}}`: attribute access, logic, filters, unclosed braces."""
    malformed = [match.group(0) for match in BRACED.finditer(template) if not PLACEHOLDER.fullmatch(match.group(0))]
    leftover = BRACED.sub(" ", template)
    for match in STRAY_OPENER.finditer(leftover):
        context = leftover[match.start() : match.start() + 20].splitlines()[0]
        malformed.append(context)
    return malformed
