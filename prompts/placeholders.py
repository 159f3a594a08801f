"""Finds and checks `{{name}}` placeholders in prompt templates; never evaluates anything."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A well-formed placeholder: double braces around one identifier, optional inner spaces.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Where template-like syntax starts: `{{ … }}` or `{% … %}`.
_OPENER = re.compile(r"\{\{|\{%")
_CLOSERS = {"{{": "}}", "{%": "%}"}
# Reported fragments are cut to this length: the message must stay readable whatever the template holds.
_SHOWN_CHARS = 40
# Beyond this many the user has the idea; a template of nothing but `{{` must not produce a million messages.
MAX_REPORTED = 10


def template_variables(template: str) -> list[str]:
    """Placeholder names in order of first appearance, without duplicates."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER.finditer(template):
        seen.setdefault(match.group(1), None)
    return list(seen)


def _shown(fragment: str) -> str:
    first_line = fragment.splitlines()[0] if fragment.strip() else fragment
    return first_line if len(first_line) <= _SHOWN_CHARS else first_line[:_SHOWN_CHARS] + "…"


def malformed_placeholders(template: str) -> list[str]:
    """Template-like fragments that are not plain `{{name}}`: attribute access, logic, filters, unclosed braces.

    A `{{` runs to the first `}}` after it and a `{%` to the first `%}`; an opener with no closer after it is
    reported as unclosed. Stray closers are not flagged: nested JSON in a template (`{"a": {"b": 1}}`) ends in
    `}}` legitimately. One left-to-right pass: each scan for a closer either moves past it or, failing, marks
    that closer as absent for the rest of the text, so the work is linear in the template's length (a
    regular expression with a lazy `.*?` per opener took quadratic time on a template full of `{{`).
    """
    found: list[str] = []
    closer_absent = dict.fromkeys(_CLOSERS.values(), False)
    position = 0
    while len(found) < MAX_REPORTED:
        opener = _OPENER.search(template, position)
        if opener is None:
            break
        closer = _CLOSERS[opener.group()]
        end = -1 if closer_absent[closer] else template.find(closer, opener.end())
        if end == -1:
            closer_absent[closer] = True
            found.append(_shown(template[opener.start() : opener.start() + _SHOWN_CHARS]))
            position = opener.end()
            continue
        fragment = template[opener.start() : end + len(closer)]
        if not PLACEHOLDER.fullmatch(fragment):
            found.append(_shown(fragment))
        position = end + len(closer)
    return found
