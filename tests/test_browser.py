"""The browser client (static/tokenauth/client.js) in headless Chromium against a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.chromium import launch, requires_chromium, result_of
from tests.factories import PASSWORD, UserFactory
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = [*requires_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with launch(monkeypatch) as browser:
        yield browser.new_page()


@pytest.fixture
def cookie_mode(tokenauth_settings: Any) -> None:
    tokenauth_settings(REFRESH_COOKIE={})  # the defaults: Secure, SameSite=Strict, __Secure-


def test_the_browser_client_logs_in_calls_refreshes_and_logs_out(
    live_server: Any, cookie_mode: None, page: Any
) -> None:
    user = UserFactory(username="browser")
    query = urlencode({"u": "browser", "p": PASSWORD})
    url = f"{live_server.url.replace('127.0.0.1', 'localhost')}/browser/?{query}"

    log = json.loads(result_of(page, url))

    assert log == [
        "login-body-has-refresh-token:false",
        "cookie-readable-by-js:false",
        "me:200:browser",
        "concurrent-refreshes-shared:true",
        "me-after-refresh:200",
        "authenticated-after-logout:false",
        "refresh-after-logout:400:invalid_request",
    ]
    family = RefreshTokenFamily.objects.get(user=user)
    assert family.generation == 1  # two concurrent refresh() calls spent one token
    assert family.revocation_reason == RevocationReason.LOGOUT


@pytest.mark.parametrize("samesite", ["Strict", "None"])
def test_another_site_cannot_ride_on_the_cookie(
    live_server: Any, tokenauth_settings: Any, samesite: str, page: Any
) -> None:
    # SameSite=None lets the browser send the cookie cross-site: then only the CSRF rule
    # (JSON + X-Requested-With + Origin) stands between the attacker and the session.
    tokenauth_settings(REFRESH_COOKIE={"samesite": samesite})
    UserFactory(username="browser")
    victim = live_server.url.replace("127.0.0.1", "localhost")
    attacker = victim.replace("localhost", "127.0.0.1")  # another site
    query = urlencode(
        {"u": "browser", "p": PASSWORD, "attack": f"{attacker}/attack/?target={victim}/auth/"}
    )

    log = json.loads(result_of(page, f"{victim}/browser/?{query}"))

    assert log[-1] in ("attack:sent,sent", "attack:blocked,blocked")
    family = RefreshTokenFamily.objects.get()
    assert family.generation == 0
    assert family.revoked_at is None
