"""User-supplied regular expressions, compiled by RE2 so that matching is linear-time whatever the pattern.

Python's `re` backtracks: a pattern such as `(\\D+)+!` takes exponential time on ordinary text, and one metric
config could tie up a worker for hours. RE2 guarantees time linear in the text and memory bounded by
`max_mem`; the price is that look-around and back-references are not available (they are what makes
backtracking necessary).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import re2

from promptopt.errors import InvalidInputError
from promptopt.input_limits import MAX_PATTERN_CHARS, text_problem

# Flags as letters, as the metric config takes them. RE2's \d, \w, \s and \b are ASCII already, so "a" changes
# nothing; Python's verbose mode ("x") has no RE2 counterpart.
REGEX_FLAGS = {"i": "case-insensitive", "m": "multi-line", "s": "dot matches newline", "a": "ASCII classes"}
_INLINE_FLAGS = frozenset("ims")
# The compiled program's memory; RE2 refuses patterns that would need more (e.g. huge counted repetitions).
_MAX_PROGRAM_BYTES = 8 * 1024 * 1024
SYNTAX_HINT = (
    "patterns use RE2 syntax, which matches in linear time: no look-around ((?=…), (?<=…)) or back-references "
    "(\\1); write \\z rather than \\Z for the end of the text"
)


class PatternError(InvalidInputError):
    """A pattern that RE2 cannot compile, with RE2's reason and a hint about its syntax."""


def flags_problem(flags: str) -> str | None:
    unknown = sorted(set(flags) - set(REGEX_FLAGS))
    if not unknown:
        return None
    if "x" in unknown:
        return "flag 'x' (verbose) is not supported; remove the spaces and comments from the pattern"
    return f"unknown flag {unknown[0]!r}; use letters from {''.join(REGEX_FLAGS)!r}"


def compile_pattern(pattern: str, flags: str = "") -> Any:
    """The compiled pattern (an RE2 regexp with `search`, `fullmatch`, …), or PatternError saying why not."""
    problem = text_problem(pattern, max_chars=MAX_PATTERN_CHARS) or flags_problem(flags)
    if problem is not None:
        raise PatternError(problem)
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.max_mem = _MAX_PROGRAM_BYTES
    inline = "".join(sorted(set(flags) & _INLINE_FLAGS))
    try:
        return re2.compile(f"(?{inline}){pattern}" if inline else pattern, options)
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) else error
        hint = f"; {SYNTAX_HINT}" if _python_accepts(pattern) else ""
        raise PatternError(f"not a valid regular expression: {reason}{hint}") from None


def _python_accepts(pattern: str) -> bool:
    """Whether Python's `re` would compile it: then the pattern is fine, only not in RE2's syntax, and the
    user deserves to know which features RE2 lacks. Compiling never matches, so it cannot backtrack."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. FutureWarning for "[[": the answer is all that matters here
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError):
            return False
    return True
