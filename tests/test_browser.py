"""The browser client (static/tokenauth/client.js) in headless Chromium against a live server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.factories import PASSWORD, UserFactory
from tokenauth.models import RefreshTokenFamily, RevocationReason

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install chromium"),
    pytest.mark.django_db(transaction=True),
]


def render(url: str) -> str:
    """The page's DOM once its scripts have run (Chromium's --dump-dom, headless)."""
    with tempfile.TemporaryDirectory() as profile:
        completed = subprocess.run(  # noqa: S603  # our own browser and arguments
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    match = re.search(r'<pre id="result">(.*?)</pre>', completed.stdout, re.S)
    assert match, completed.stderr[-2000:]
    return match.group(1)


@pytest.fixture
def cookie_mode(tokenauth_settings: Any) -> None:
    tokenauth_settings(REFRESH_COOKIE={})  # the defaults: Secure, SameSite=Strict, __Secure-


def test_the_browser_client_logs_in_calls_refreshes_and_logs_out(
    live_server: Any, cookie_mode: None
) -> None:
    user = UserFactory(username="browser")
    query = urlencode({"u": "browser", "p": PASSWORD})
    url = f"{live_server.url.replace('127.0.0.1', 'localhost')}/browser/?{query}"

    log = json.loads(render(url))

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
    live_server: Any, tokenauth_settings: Any, samesite: str
) -> None:
    # SameSite=None lets the browser send the cookie cross-site: then only the CSRF rule
    # (JSON + X-Requested-With + Origin) stands between the attacker and the session.
    tokenauth_settings(REFRESH_COOKIE={"samesite": samesite})
    UserFactory(username="browser")
    victim = live_server.url.replace("127.0.0.1", "localhost")
    attacker = f"{live_server.url}/attack/?target={victim}/auth/"  # 127.0.0.1: another site
    query = urlencode({"u": "browser", "p": PASSWORD, "attack": attacker})

    log = json.loads(render(f"{victim}/browser/?{query}"))

    assert log[-1] in ("attack:sent,sent", "attack:blocked,blocked")
    family = RefreshTokenFamily.objects.get()
    assert family.generation == 0
    assert family.revoked_at is None
