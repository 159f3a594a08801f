"""The application's error vocabulary: services raise these, every interface maps them the same way."""

from __future__ import annotations

from pydantic import ValidationError


class PromptOptError(Exception):
    """Base class for errors a user can act on; the message is safe to show them."""


class NotFoundError(PromptOptError):
    pass


class PermissionDeniedError(PromptOptError):
    pass


class ConflictError(PromptOptError):
    """The request is valid but the current state forbids it (e.g. cancelling a finished run)."""


class InvalidInputError(PromptOptError):
    """Input that cannot be accepted as given (a malformed file, a bad option); the message says where."""


def invalid_input_from(error: ValidationError) -> InvalidInputError:
    """A pydantic validation error as one InvalidInputError naming each bad field ("budget.max_calls: …")."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "config"
        lines.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return InvalidInputError("; ".join(lines))
