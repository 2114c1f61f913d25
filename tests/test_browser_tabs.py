"""The browser client across tabs (DESIGN §12): five pages of one browser context, one origin,
in headless Chromium against a live server in cookie mode, with the real Web Locks and
BroadcastChannel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from django.core.signals import request_started

from tests.chromium import launch, requires_chromium
from tests.conftest import requires_server_database
from tests.factories import PASSWORD, UserFactory
from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

# Five tabs call the live server at once: in-memory SQLite gives its threads one shared
# connection, which fails under concurrent requests ("bad parameter or other API misuse").
pytestmark = [
    *requires_chromium,
    requires_server_database,
    pytest.mark.django_db(transaction=True),
]

TABS = 5


@pytest.fixture
def server_requests() -> Iterator[list[str]]:
    """The path of every request that reaches the live server, as it arrives."""
    paths: list[str] = []

    def _record(sender: Any, environ: dict[str, Any], **kwargs: Any) -> None:
        paths.append(environ["PATH_INFO"])

    request_started.connect(_record, weak=False, dispatch_uid="tests-browser-tabs")
    yield paths
    request_started.disconnect(dispatch_uid="tests-browser-tabs")


@pytest.fixture
def tabs(
    live_server: Any, tokenauth_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[Any]]:
    """Five pages of one context on /tabs/, the first logged in, so all five hold its token."""
    tokenauth_settings(REFRESH_COOKIE={})
    UserFactory(username="tabs")
    origin = live_server.url.replace("127.0.0.1", "localhost")
    with launch(monkeypatch) as browser:
        context = browser.new_context()
        context.clock.install()  # the pages' clocks: time flows, and the test may jump it
        pages = [context.new_page() for _ in range(TABS)]
        for page in pages:
            page.goto(f"{origin}/tabs/")
            page.wait_for_function("window.ready === true")
        pages[0].evaluate(
            "([username, password]) => auth.login({ username, password })", ["tabs", PASSWORD]
        )
        for page in pages:
            page.wait_for_function("auth.isAuthenticated")
        yield pages


def fetch_in_all(pages: list[Any], path: str) -> None:
    """Start ``auth.fetch(path)`` in every page without waiting; ``collect`` gets the answers."""
    for page in pages:
        page.evaluate("(path) => { window.answer = auth.fetch(path).then((r) => r.status); }", path)


def collect(pages: list[Any]) -> list[int]:
    return [page.evaluate("window.answer") for page in pages]


def test_five_tabs_whose_token_expired_together_refresh_once(
    tabs: list[Any], server_requests: list[str]
) -> None:
    context = tabs[0].context
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:  # until the other tabs wait on the lock
        if held:
            route.continue_()
        else:
            held.append(route)

    context.route("**/auth/refresh/", hold_the_first)
    server_requests.clear()

    # Fifteen minutes later, for the server and for every page: all five tokens are expired.
    later = datetime.now(timezone.utc) + timedelta(minutes=16)
    with time_machine.travel(later, tick=True):
        context.clock.fast_forward("16:00")
        fetch_in_all(tabs, "/api/me/")
        tabs[0].wait_for_function(
            """async (waiting) => {
              const { held, pending } = await navigator.locks.query();
              return held.length === 1 && pending.length === waiting;
            }""",
            arg=TABS - 1,
        )  # one tab refreshes (its refresh/ held here), the four others wait on the lock
        assert len(held) == 1
        held[0].continue_()

        answers = collect(tabs)

    assert answers == [200] * TABS
    assert server_requests.count("/auth/refresh/") == 1
    assert server_requests.count("/api/me/") == TABS
    assert RefreshTokenFamily.objects.get().generation == 1


def test_a_logout_in_one_tab_ends_the_session_in_the_others(
    tabs: list[Any], server_requests: list[str]
) -> None:
    tabs[0].evaluate("auth.logout()")

    for page in tabs[1:]:
        page.wait_for_function("events.length === 1", timeout=2000)
    server_requests.clear()
    fetch_in_all(tabs, "/api/me/")

    assert collect(tabs) == [401] * TABS  # the API's own 401: fetch() never rejects
    assert [page.evaluate("[events, callbacks]") for page in tabs] == [[[], []]] + [
        [["logout"], ["logout"]]
    ] * (TABS - 1)
    assert server_requests == ["/api/me/"] * TABS  # no refresh after the end
    family = RefreshTokenFamily.objects.get()
    assert family.revocation_reason == RevocationReason.LOGOUT


def test_an_invalid_grant_on_refresh_ends_the_session_in_every_tab_once(
    tabs: list[Any], server_requests: list[str]
) -> None:
    family = RefreshTokenFamily.objects.get()
    service.revoke_family(family_public_id=family.public_id, reason=RevocationReason.ADMIN)
    server_requests.clear()

    fetch_in_all(tabs, "/api/me/")  # each access token is refused now: 401, then a refresh
    first = collect(tabs)
    for page in tabs:
        page.wait_for_function("events.length === 1", timeout=2000)
    fetch_in_all(tabs, "/api/me/")
    again = collect(tabs)

    assert first == again == [401] * TABS
    assert server_requests.count("/auth/refresh/") == 1
    assert [page.evaluate("[events, callbacks]") for page in tabs] == [
        [["invalid_grant"], ["invalid_grant"]]
    ] * TABS
    assert tabs[0].evaluate("auth.restore()") is False  # and restore() says so, no rejection
