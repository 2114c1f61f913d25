"""Parsing and negotiation for the token endpoints: malformed input is a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation


class JSONParser(parsers.JSONParser):
    """DRF's, plus: JSON nested too deep for Python's parser is malformed, not a crash."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class AlwaysJSON(DefaultContentNegotiation):
    """Token endpoints speak JSON whatever ``Accept`` says: no 406 with a non-RFC body."""

    def select_renderer(
        self, request: Any, renderers: Any, format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type
