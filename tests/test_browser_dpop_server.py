"""``dpop: true`` in headless Chromium against the real endpoints (DESIGN §8, §12): cookie mode,
``login/``, ``refresh/``, ``logout/`` and a protected view, with nonces on. The key survives a
reload in IndexedDB; what a thief copies out of the browser (the HttpOnly refresh cookie, the
access token, a proof) buys nothing from Python without the key, and kills nothing either.

tests/test_browser_dpop.py checks the proofs themselves against stand-in views; this one is the
server's side of the contract.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from tests.chromium import launch, requires_chromium
from tests.dpop_proofs import Signer
from tests.factories import PASSWORD, UserFactory
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = [
    *requires_chromium,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("live_server_requests_joined"),
]

TIMEOUT = 30
COOKIE = "__Secure-tokenauth-refresh"  # the default name (Secure on; localhost is secure)
# Served by Playwright at a path of the live server's origin: the page is the test's, the
# client, the endpoints and the API are the real ones.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tokenauth dpop</title></head><body>
<script type="module">
import { TokenAuthClient } from "/static/tokenauth/client.js";
window.auth = new TokenAuthClient({ baseUrl: "/auth/", dpop: true });
window.me = async () => (await auth.fetch("/api/me/")).status;
window.storedKeys = () => new Promise((resolve, reject) => {
  const open = indexedDB.open("tokenauth-dpop");
  open.onerror = () => reject(open.error);
  open.onsuccess = async () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("keys")) { db.close(); resolve([]); return; }
    const all = db.transaction("keys").objectStore("keys").getAll();
    all.onsuccess = async () => {
      db.close();
      resolve(await Promise.all(all.result.map(async (pair) => ({
        extractable: pair.privateKey.extractable,
        exported: await crypto.subtle.exportKey("jwk", pair.privateKey).then(
          () => "exported", (e) => e.name),
      }))));
    };
  };
});
window.ready = true;
</script></body></html>"""


@pytest.fixture
def origin(live_server: Any, tokenauth_settings: Any) -> str:
    tokenauth_settings(REFRESH_COOKIE={}, DPOP="allowed", DPOP_NONCE=True)
    return str(live_server.url).replace("127.0.0.1", "localhost")


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch, origin: str) -> Iterator[Any]:
    """One page of one context (one IndexedDB), with the test page at ``/dpop-page/`` and
    every ``Authorization`` and ``DPoP`` header it sends to the API kept in ``page.sent``."""
    with launch(monkeypatch) as chromium:
        context = chromium.new_context()
        context.route(
            f"{origin}/dpop-page/",
            lambda route: route.fulfill(body=PAGE, content_type="text/html; charset=utf-8"),
        )
        page = context.new_page()
        page.sent = []  # type: ignore[attr-defined]

        def record(request: Any) -> None:
            if "/api/" in request.url:
                page.sent.append(request.headers)  # type: ignore[attr-defined]

        page.on("request", record)
        yield page


def open_page(page: Any, origin: str) -> None:
    page.goto(f"{origin}/dpop-page/")
    page.wait_for_function("window.ready === true")


def test_the_browser_logs_in_bound_calls_the_api_and_survives_a_reload(
    origin: str, browser: Any
) -> None:
    user = UserFactory(username="dpop-browser")
    open_page(browser, origin)

    login = browser.evaluate(
        "([u, p]) => auth.login({ username: u, password: p })", ["dpop-browser", PASSWORD]
    )

    assert login["token_type"] == "DPoP"
    assert "refresh_token" not in login  # cookie mode
    assert browser.evaluate("me()") == 200
    authorization = browser.sent[-1]["authorization"]
    assert authorization.startswith("DPoP ")
    jkt = jwt.decode(authorization[5:], options={"verify_signature": False})["cnf"]["jkt"]
    assert browser.evaluate("storedKeys()") == [
        {"extractable": False, "exported": "InvalidAccessError"}
    ]

    browser.reload()
    browser.wait_for_function("window.ready === true")

    assert browser.evaluate("auth.restore()") is True  # a refresh proven by the stored key
    assert browser.evaluate("me()") == 200
    renewed = browser.sent[-1]["authorization"]
    assert renewed != authorization
    assert jwt.decode(renewed[5:], options={"verify_signature": False})["cnf"]["jkt"] == jkt
    family = RefreshTokenFamily.objects.get(user=user)
    assert family.generation == 1
    assert family.revoked_at is None

    browser.evaluate("auth.logout()")

    assert browser.evaluate("storedKeys()") == []
    family.refresh_from_db()
    assert family.revocation_reason == RevocationReason.LOGOUT


def test_what_is_copied_out_of_the_browser_is_refused_without_the_key(
    origin: str, browser: Any
) -> None:
    user = UserFactory(username="dpop-victim")
    open_page(browser, origin)
    browser.evaluate(
        "([u, p]) => auth.login({ username: u, password: p })", ["dpop-victim", PASSWORD]
    )
    assert browser.evaluate("me()") == 200
    # What malware with the profile's files, or a proxy log, would have: the HttpOnly cookie,
    # the access token and the last proof the page sent.
    cookie = next(c for c in browser.context.cookies() if c["name"] == COOKIE)
    headers = browser.sent[-1]
    access_token = headers["authorization"].removeprefix("DPoP ")
    api = f"{origin}/api/me/"

    refresh_url = f"{origin}/auth/refresh/"
    csrf = {  # everything the CSRF rule asks for (with json=: application/json)
        "X-Requested-With": "XMLHttpRequest",
        "Origin": origin,
        "Cookie": f"{COOKIE}={cookie['value']}",
    }
    refresh = requests.post(refresh_url, json={}, headers=csrf, timeout=TIMEOUT)  # no proof
    thief = Signer("ES256")
    foreign = thief.proof(htm="GET", htu=api, access_token=access_token, iat=int(time.time()))
    calls = {
        "bearer": {"Authorization": f"Bearer {access_token}"},
        "no proof": {"Authorization": f"DPoP {access_token}"},
        "replayed proof": {"Authorization": f"DPoP {access_token}", "DPoP": headers["dpop"]},
        "another key": {"Authorization": f"DPoP {access_token}", "DPoP": foreign},
    }
    answers = {
        name: requests.get(api, headers=sent, timeout=TIMEOUT) for name, sent in calls.items()
    }

    assert refresh.status_code == 400, refresh.text
    assert refresh.json()["error"] == "invalid_dpop_proof"
    # The thief's own key, even with the server's current nonce, is not the family's.
    own_key = requests.post(
        refresh_url,
        json={},
        headers={
            **csrf,
            "DPoP": thief.proof(
                htu=refresh_url, iat=int(time.time()), nonce=refresh.headers["DPoP-Nonce"]
            ),
        },
        timeout=TIMEOUT,
    )
    assert own_key.status_code == 400, own_key.text
    assert own_key.json()["error"] == "invalid_dpop_proof"
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(calls, 401)
    for name, answer in answers.items():
        assert answer.headers["WWW-Authenticate"].startswith("DPoP "), name
    assert 'error="invalid_token"' in answers["bearer"].headers["WWW-Authenticate"]
    for name in ("no proof", "replayed proof", "another key"):
        assert 'error="invalid_dpop_proof"' in answers[name].headers["WWW-Authenticate"], name
    # The thief killed nothing: the family is neither rotated nor revoked, and the browser's
    # own key goes on refreshing it.
    family = RefreshTokenFamily.objects.get(user=user)
    assert (family.generation, family.revoked_at) == (0, None)
    assert browser.evaluate("auth.refresh().then(() => me())") == 200
    family.refresh_from_db()
    assert (family.generation, family.revoked_at) == (1, None)
