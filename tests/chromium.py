"""Headless Chromium for the browser tests, driven by Playwright (skipped without either)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connections

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HAS_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None

requires_chromium = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install chromium"),
    pytest.mark.skipif(
        not HAS_PLAYWRIGHT, reason="needs Playwright for Python: pip install playwright"
    ),
]

_MISSING = [
    needed
    for needed, present in [
        ("Chromium (apt-get install chromium)", CHROMIUM is not None),
        ("Playwright for Python (pip install playwright)", HAS_PLAYWRIGHT),
    ]
    if not present
]
# The same as one mark, for a decorator on a single test.
requires_browser = pytest.mark.skipif(bool(_MISSING), reason=f"needs {' and '.join(_MISSING)}")

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@contextmanager
def launch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The machine's Chromium, headless; closed on exit.

    Playwright's sync API keeps an event loop running in this thread, so Django would take the
    test's own (synchronous) ORM calls for calls from async code: Playwright's documented way
    out for Django is DJANGO_ALLOW_ASYNC_UNSAFE, for this test only.
    """
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While that loop runs, Django keeps this thread's connections apart (asgiref's
            # Local, per async context): close them here, or a PostgreSQL test database
            # cannot be dropped at the end of the session ("being accessed by other users").
            connections.close_all()


def result_of(page: Any, url: str) -> str:
    """Load ``url`` and return ``<pre id="result">`` once its script has replaced "running"."""
    page.goto(url)
    page.wait_for_function(
        "document.getElementById('result')?.textContent !== 'running'", timeout=30_000
    )
    return str(page.text_content("#result"))
