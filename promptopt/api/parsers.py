"""The API's JSON parser: the project's strict reading of user-supplied JSON, for request bodies too.

DRF's own parser accepts repeated keys (the last wins unseen), NaN and Infinity, and raises RecursionError
(a 500) on deeply nested bodies; this one refuses each with a 400 that says what is wrong. The body's size
is bounded before parsing by DATA_UPLOAD_MAX_MEMORY_SIZE (413).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from promptopt.input_limits import MAX_VERSION_CHARS, JsonInputError, parse_json


class StrictJSONParser(JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as error:
            raise ParseError(f"The body is not {encoding} text (byte {error.start}).") from None
        try:
            # A version's whole content is the largest text any API field takes.
            return parse_json(text, max_value_chars=MAX_VERSION_CHARS)
        except JsonInputError as error:
            raise ParseError(f"The JSON body is not accepted: {error}.") from None
