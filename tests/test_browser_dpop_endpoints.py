"""``dpop: true`` in headless Chromium against tokenauth's real endpoints (DESIGN §8, §12), in
cookie mode with nonces on: the session is bound to the browser's key, survives a reload, and
the refresh cookie or access token copied out of the browser buys nothing from Python."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.chromium import launch, requires_chromium, result_of
from tests.dpop_proofs import Signer, jwt_claims, proof_for
from tests.factories import PASSWORD, UserFactory
from tokenauth.models import RefreshTokenFamily

pytestmark = [
    *requires_chromium,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.dpop_browser_urls"),
]


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, tokenauth_settings: Any) -> Iterator[Any]:
    tokenauth_settings(DPOP="allowed", DPOP_NONCE=True, REFRESH_COOKIE={})
    with launch(monkeypatch) as browser:
        yield browser.new_page()  # one context: one IndexedDB and cookie jar for every step


def _origin(live_server: Any) -> str:
    return str(live_server.url).replace("127.0.0.1", "localhost")  # a secure context


def _step(page: Any, live_server: Any, step: str, **query: str) -> list[str]:
    url = f"{_origin(live_server)}/dpop-browser/?{urlencode({'step': step, **query})}"
    return list(json.loads(result_of(page, url)))


def _send(url: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310  # live server
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _send_json(url: str, headers: dict[str, str]) -> tuple[int, Any, str]:
    request = urllib.request.Request(url, data=b"{}", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), json.loads(response.read()), response.headers["DPoP-Nonce"]
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read()), error.headers["DPoP-Nonce"]


def test_the_browser_binds_its_session_and_keeps_it_across_a_reload(
    live_server: Any, page: Any
) -> None:
    UserFactory(username="dpop")

    login = _step(page, live_server, "login", u="dpop", p=PASSWORD)

    assert login[0] == "token_type:DPoP", login
    assert login[2] == "me:200", login
    family = RefreshTokenFamily.objects.get()
    access_token = login[1].removeprefix("access_token:")
    assert jwt_claims(access_token)["cnf"] == {"jkt": family.dpop_jkt}
    assert _step(page, live_server, "reload") == ["restored:true", "me:200"]
    family.refresh_from_db()
    assert family.generation == 1  # the reload refreshed, with a proof by the same key
    assert _step(page, live_server, "logout") == ["restored:true", "authenticated:false"]
    family.refresh_from_db()
    assert family.revocation_reason == "logout"


def test_what_is_copied_out_of_the_browser_is_refused_without_the_key(
    live_server: Any, page: Any
) -> None:
    UserFactory(username="dpop")
    login = _step(page, live_server, "login", u="dpop", p=PASSWORD)
    access_token = login[1].removeprefix("access_token:")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "__Secure-tokenauth-refresh"]
    origin = _origin(live_server)
    thief = Signer("ES256")

    me = f"{origin}/api/me/"
    stolen_proof = proof_for(thief, me, method="GET", access_token=access_token)
    assert _send(me, {"Authorization": f"Bearer {access_token}"})[0] == 401
    assert _send(me, {"Authorization": f"DPoP {access_token}", "DPoP": stolen_proof})[0] == 401

    refresh = f"{origin}/auth/refresh/"
    csrf = {
        "Content-Type": "application/json",
        "X-Requested-With": "XMLHttpRequest",
        "Origin": origin,
        "Cookie": f"{cookie['name']}={cookie['value']}",
    }
    status, body, nonce = _send_json(refresh, csrf)  # no proof: the family is bound
    assert (status, body["error"]) == (400, "invalid_dpop_proof")
    # The thief's own key, even with the server's current nonce.
    status, body, _ = _send_json(refresh, {**csrf, "DPoP": proof_for(thief, refresh, nonce=nonce)})
    assert (status, body["error"]) == (400, "invalid_dpop_proof")
    family = RefreshTokenFamily.objects.get()
    assert (family.generation, family.revoked_at) == (0, None)  # the owner carries on
    assert _step(page, live_server, "reload") == ["restored:true", "me:200"]
