"""``dpop: true`` in headless Chromium: the proofs client.js makes pass ``check_proof``, the key
survives a reload in IndexedDB and cannot be exported, and what is copied out of the browser
(an access token, a proof) buys nothing from Python without the key."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests import dpop_urls
from tests.chromium import launch, requires_chromium, result_of
from tests.dpop_proofs import Signer

pytestmark = [
    *requires_chromium,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.dpop_urls"),
]


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    dpop_urls.reset()
    with launch(monkeypatch) as browser:
        yield browser.new_page()  # one context: one IndexedDB and localStorage for every step


def _log(page: Any, live_server: Any, step: str) -> list[str]:
    return list(json.loads(result_of(page, f"{live_server.url}/dpop/?step={step}")))


def _get(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310  # our live server
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_browser_proves_a_non_extractable_key_that_survives_a_reload(
    live_server: Any, page: Any
) -> None:
    assert _log(page, live_server, "login") == [
        "me:200",
        "stored-keys:1",
        "private-key-extractable:false",
        "export:InvalidAccessError",
    ]
    bound = dpop_urls.STATE["bound_jkt"]
    # DPOP_NONCE semantics: the first proof has no nonce, the client retries once with it.
    assert dpop_urls.STATE["log"] == ["login:use_dpop_nonce", "login:ok", "me:ok"]

    assert _log(page, live_server, "reload") == ["restored:true", "me:200"]

    # A new page has no nonce yet: one retry; the refresh proves the same key, from IndexedDB.
    assert dpop_urls.STATE["log"][3:] == ["refresh:use_dpop_nonce", "refresh:ok", "me:ok"]
    assert dpop_urls.STATE["bound_jkt"] == bound

    assert _log(page, live_server, "logout") == ["restored:true", "stored-keys:0"]


def test_a_token_or_proof_copied_out_of_the_browser_is_refused_without_the_key(
    live_server: Any, page: Any
) -> None:
    assert _log(page, live_server, "login")[0] == "me:200"
    (access_token,) = dpop_urls.STATE["tokens"]
    browser_proof = dpop_urls.STATE["proofs"][-1]  # the one that came with GET /dpop/api/me/
    url = f"{live_server.url}/dpop/api/me/"
    del dpop_urls.STATE["log"][:]
    del dpop_urls.STATE["errors"][:]

    thief = Signer("ES256")
    statuses = [
        _get(url, {"Authorization": f"DPoP {access_token}"}),  # no proof
        _get(url, {"Authorization": f"Bearer {access_token}"}),  # a downgrade
        _get(url, {"Authorization": f"DPoP {access_token}", "DPoP": browser_proof}),  # replay
        _get(
            url,
            {
                "Authorization": f"DPoP {access_token}",
                "DPoP": thief.proof(
                    htm="GET", htu=url, access_token=access_token, iat=int(time.time())
                ),
            },
        ),
    ]

    assert statuses == [401, 401, 401, 401]
    assert dpop_urls.STATE["log"] == [
        "me:invalid_dpop_proof",  # no proof
        "me:invalid_token",
        "me:invalid_dpop_proof",  # the browser's proof: used before
        "me:invalid_dpop_proof",  # the thief's key is not the token's
    ]
    assert dpop_urls.STATE["errors"] == [
        "The DPoP proof has been used before.",
        "The DPoP proof is signed by another key than the token's own.",
    ]
