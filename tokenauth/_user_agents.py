"""Shorten a user-agent string for a list column: browser and platform, or the first product."""

from __future__ import annotations

import re

__all__ = ["short_user_agent"]

# First match wins: Edge and Opera also say "Chrome/", Chrome also says "Safari/".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[.\d]*(?: Mobile/\w+)? Safari/")),
)
_PLATFORMS = (
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


_COMPATIBLE = re.compile(r"\(compatible; ([^;)]+)")  # bots: "(compatible; Googlebot/2.1; ..."


def short_user_agent(user_agent: str, max_length: int = 24) -> str:
    """A browser's name and platform ("Chrome 126 on Windows"), a tool's ("curl 8.5.0"), or a cut.

    A summary for reading, never for a decision: the full string stays in the row.
    """
    ua = " ".join(user_agent.split())  # no tab or newline in a table cell
    if ua.startswith("Mozilla/"):
        browser = next((f"{name} {m[1]}" for name, rx in _BROWSERS if (m := rx.search(ua))), None)
        platform = next((name for name, rx in _PLATFORMS if rx.search(ua)), None)
        if browser or platform:
            return " on ".join(part for part in (browser, platform) if part)
        compatible = _COMPATIBLE.search(ua)
        if compatible is None:
            return _cut(ua, max_length)
        ua = compatible[1]
    # "okhttp/4.12.0" -> "okhttp 4.12.0": a narrow cell may wrap between name and version.
    return _cut(ua.partition(" ")[0].replace("/", " ", 1), max_length)


def _cut(text: str, max_length: int) -> str:
    return text if len(text) <= max_length else text[: max_length - 1] + "…"
