"""Parsing and negotiation for the token endpoints: malformed input is a 4xx, never a 500."""

from __future__ import annotations

import codecs
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation

__all__ = ["AlwaysJSON", "FormParser", "JSONParser"]


class JSONParser(parsers.JSONParser):
    """DRF's, plus: JSON nested too deep for Python's parser, and a charset that is no text
    encoding, are malformed input, not a crash."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        _refuse_a_charset_that_is_no_text_encoding(parser_context, "JSON")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class FormParser(parsers.FormParser):
    """DRF's, plus: a charset that is no text encoding is malformed input, not a crash."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        _refuse_a_charset_that_is_no_text_encoding(parser_context, "Form")
        return super().parse(stream, media_type, parser_context)


def _refuse_a_charset_that_is_no_text_encoding(parser_context: Any, kind: str) -> None:
    """``charset=rot13`` or ``hex`` names a codec, not a text encoding: older DRF and Django
    releases let its TypeError or LookupError through as a 500. (An unknown charset never gets
    here: Django ignores it and uses ``DEFAULT_CHARSET``.)"""
    encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
    if not _is_text_encoding(encoding):
        raise ParseError(f"{kind} parse error - unsupported charset {encoding!r}.")


def _is_text_encoding(name: str) -> bool:
    try:
        return codecs.lookup(name)._is_text_encoding
    except LookupError:
        return False


class AlwaysJSON(DefaultContentNegotiation):
    """Token endpoints speak JSON whatever ``Accept`` says: no 406 with a non-RFC body."""

    def select_renderer(
        self, request: Any, renderers: Any, format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type
