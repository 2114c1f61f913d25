"""How the family admin writes values into narrow cells: relative times, cut texts, addresses.

Each cell keeps the exact value in its ``title`` (shown on hover) and may wrap only where a
reader expects it to, so ten columns fit beside Django's two sidebars on a 1280-px screen.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.utils import formats, timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

__all__ = ["breakable", "exact_time", "relative_time", "shortened"]

_BREAK_AFTER = re.compile(r"([:._@/])")


def relative_time(value: datetime, now: datetime) -> SafeString:
    """Relative to ``now`` ("5 minutes ago", "in 2 weeks", "just now"); exact in the title."""
    if abs(value - now) < timedelta(minutes=1):
        text = "just now"
    elif value < now:
        text = f"{_spaced(timesince(value, now, depth=1))} ago"
    else:
        text = f"in {_spaced(timeuntil(value, now, depth=1))}"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', value.isoformat(), exact_time(value), text
    )


def exact_time(value: datetime | None) -> str | None:
    """The local time as Django's admin writes it ("Dec. 1, 2026, 12:58 p.m.")."""
    if value is None:
        return None
    return formats.localize(timezone.localtime(value) if timezone.is_aware(value) else value)


def shortened(text: str, length: int) -> SafeString:
    """At most ``length`` characters (the last an ellipsis); the whole text in the title."""
    if len(text) <= length:
        return breakable(text)
    return format_html('<span title="{}">{}…</span>', text, breakable(text[: length - 1]))


def breakable(text: str) -> SafeString:
    """Escaped, with a line-break opportunity after each ``: . _ @ /`` (IPv6, emails, reasons)."""
    return SafeString(_BREAK_AFTER.sub(r"\1<wbr>", escape(text)))


def _spaced(duration: str) -> str:
    return duration.replace("\xa0", " ")  # Django joins number and unit with a no-break space
