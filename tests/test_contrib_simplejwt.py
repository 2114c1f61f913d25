"""Moving over from simplejwt (DESIGN §10): its access tokens accepted during the move, its
refresh tokens exchanged for tokenauth families. Every token here is a real simplejwt token.

This file runs twice: here without simplejwt's ``token_blacklist`` app, and in a process of
its own under ``tests.simplejwt_settings`` (the app installed, non-default simplejwt settings),
started by the last test. simplejwt decides at import whether its tokens use the blacklist, so
``override_settings(INSTALLED_APPS=...)`` cannot switch it.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "rest_framework_simplejwt", reason="needs djangorestframework-simplejwt (the test group's)"
)

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_init, post_save
from django.test import Client, TestCase
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.chromium import ARGS as CHROMIUM_ARGS
from tests.chromium import CHROMIUM, requires_browser
from tests.conftest import (
    BROWSER,
    COOKIE,
    UNREACHABLE_REDIS,
    bearer,
    post_json,
    requires_server_database,
)
from tests.factories import PASSWORD
from tests.test_database_outage import database_down  # noqa: F401  # a fixture
from tokenauth import service, signals
from tokenauth.access import decode_access_token
from tokenauth.contrib.simplejwt.exchange import exchange_refresh_token
from tokenauth.models import RefreshTokenFamily

pytestmark = [pytest.mark.urls("tests.urls_simplejwt"), pytest.mark.django_db]

REPO_ROOT = Path(__file__).resolve().parent.parent
BLACKLIST = "rest_framework_simplejwt.token_blacklist" in django_settings.INSTALLED_APPS
with_blacklist = pytest.mark.skipif(
    not BLACKLIST,
    reason="needs simplejwt's token_blacklist app: runs in the process of "
    "test_the_suite_passes_in_its_own_process_with_the_blacklist_app",
)
without_blacklist = pytest.mark.skipif(BLACKLIST, reason="only without token_blacklist")

EXCHANGE = "/auth/simplejwt/exchange/"
ME = "/api/transition/me/"
CLIENT_META = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "MigratingApp/2.0"}
TOKEN_RESPONSE_FIELDS = {
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_token_expires_in",
}
INVALID_TOKEN = (
    'Bearer realm="api", error="invalid_token", '
    'error_description="The access token is invalid or expired."'
)


def foreign_signed(token: Any) -> str:
    """The token's claims signed by simplejwt's encoder under a key this project never had."""
    return TokenBackend("HS256", "a-key-of-another-project-0123456789abcdef").encode(token.payload)


def expired(token: Any) -> str:
    token.set_exp(lifetime=timedelta(seconds=-1))
    return str(token)


def exchange(client: Client, refresh: Any, **extra: Any) -> Any:
    """POST the simplejwt refresh token to the exchange, as committed (on_commit runs)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return post_json(client, EXCHANGE, {"refresh": str(refresh)}, **{**CLIENT_META, **extra})


def jti(token: RefreshToken) -> str:
    return str(token[simplejwt_settings.api_settings.JTI_CLAIM])


@pytest.fixture
def issued() -> Iterator[list[dict[str, Any]]]:
    """Every ``token_issued`` sent; ``exchange()`` runs the on_commit callbacks it captures."""
    events: list[dict[str, Any]] = []

    def _receiver(sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal", None)
        events.append(kwargs)

    signals.token_issued.connect(_receiver, weak=False, dispatch_uid="tests-simplejwt-issued")
    yield events
    signals.token_issued.disconnect(dispatch_uid="tests-simplejwt-issued")


# --- the transition authentication class ------------------------------------------------


def test_a_simplejwt_access_token_reaches_a_protected_view(client: Client, user: Any) -> None:
    response = client.get(ME, **bearer(AccessToken.for_user(user)))

    assert response.status_code == 200, response.content
    assert response.json() == {"id": user.pk, "username": user.username}


def test_the_access_token_of_a_simplejwt_refresh_reaches_it_too(client: Client, user: Any) -> None:
    response = client.get(ME, **bearer(RefreshToken.for_user(user).access_token))

    assert response.status_code == 200, response.content


def test_a_tokenauth_access_token_is_left_to_tokenauth(
    client: Client, user: Any, login: Any
) -> None:
    access_token = login(user)["access_token"]

    response = client.get(ME, **bearer(access_token))

    assert response.status_code == 200, response.content
    assert response.json()["username"] == user.username


@pytest.mark.parametrize(
    ("make_token", "www_authenticate"),
    [
        (lambda user: "not-a-jwt", INVALID_TOKEN),
        (lambda user: expired(AccessToken.for_user(user)), INVALID_TOKEN),
        (lambda user: foreign_signed(AccessToken.for_user(user)), INVALID_TOKEN),
        (lambda user: RefreshToken.for_user(user), INVALID_TOKEN),  # not an access token
        (
            lambda user: f"{AccessToken.for_user(user)} extra",
            'Bearer realm="api", error="invalid_token", '
            'error_description="The Bearer scheme takes exactly one token."',
        ),
    ],
    ids=["garbage", "expired", "wrong-signature", "refresh-token", "two-tokens"],
)
def test_what_simplejwt_refuses_gets_tokenauths_rfc_6750_401(
    client: Client, user: Any, make_token: Any, www_authenticate: str
) -> None:
    response = client.get(ME, **bearer(make_token(user)))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == www_authenticate


def test_no_credentials_get_tokenauths_challenge(client: Client, db: None) -> None:
    response = client.get(ME)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_inactive_users_simplejwt_token_is_refused(client: Client, user: Any) -> None:
    # In the blacklist run simplejwt's CHECK_USER_IS_ACTIVE is off: the contrib still refuses.
    access_token = AccessToken.for_user(user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)

    response = client.get(ME, **bearer(access_token))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID_TOKEN


def test_a_deleted_users_simplejwt_token_is_refused(client: Client, user: Any) -> None:
    access_token = AccessToken.for_user(user)
    user.delete()

    response = client.get(ME, **bearer(access_token))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID_TOKEN


# --- the exchange -----------------------------------------------------------------------


def test_the_url_has_its_own_namespace(db: None) -> None:
    assert reverse("tokenauth_simplejwt:exchange") == EXCHANGE


def test_exchange_answers_the_token_response(client: Client, user: Any) -> None:
    response = exchange(client, RefreshToken.for_user(user))

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == TOKEN_RESPONSE_FIELDS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert body["refresh_token"].startswith("tkrt_")
    assert body["refresh_token_expires_in"] == 7 * 86400
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies


def test_exchange_with_a_dpop_proof_binds_the_new_family(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    from tests.dpop_proofs import Signer, jwt_claims, proof_for

    tokenauth_settings(DPOP="allowed")
    signer = Signer("ES256")
    proof = proof_for(signer, f"http://testserver{EXCHANGE}")

    response = exchange(client, RefreshToken.for_user(user), HTTP_DPOP=proof)

    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    assert jwt_claims(response.json()["access_token"])["cnf"] == {"jkt": signer.jkt}
    assert RefreshTokenFamily.objects.get().dpop_jkt == signer.jkt
    refused = exchange(client, RefreshToken.for_user(user), HTTP_DPOP="not a proof")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"


def test_the_new_tokens_work_with_tokenauth(client: Client, user: Any) -> None:
    body = exchange(client, RefreshToken.for_user(user)).json()

    me = client.get("/api/me/", **bearer(body["access_token"]))
    refreshed = post_json(client, "/auth/refresh/", {"refresh_token": body["refresh_token"]})

    assert me.status_code == 200, me.content
    assert me.json()["username"] == user.username
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["refresh_token"] != body["refresh_token"]


def test_exchange_adds_the_projects_claims_and_response_fields(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(
        ACCESS_TOKEN_CLAIMS=lambda user: {"roles": ["reader"]},
        TOKEN_RESPONSE_FIELDS=lambda user: {"user": {"username": user.username}},
    )

    response = exchange(client, RefreshToken.for_user(user))

    assert response.status_code == 200, response.content
    assert response.json()["user"] == {"username": user.username}
    assert dict(decode_access_token(response.json()["access_token"]).extra) == {"roles": ["reader"]}


def test_exchange_starts_one_family_with_the_clients_ip_and_agent(
    client: Client, user: Any, issued: list[dict[str, Any]]
) -> None:
    body = exchange(client, RefreshToken.for_user(user)).json()

    family = RefreshTokenFamily.objects.get()
    assert family.user_id == user.pk
    assert family.ip_address == "203.0.113.9"
    assert family.user_agent == "MigratingApp/2.0"
    assert family.generation == 0
    assert issued == [{"user_id": user.pk, "family_public_id": family.public_id}]
    assert [session.public_id for session in service.live_families(user=user)] == [family.public_id]
    assert body["refresh_token"].startswith("tkrt_")


def test_exchange_sends_no_user_logged_in(client: Client, user: Any) -> None:
    # The user logged in with simplejwt long ago: last_login stays what it was.
    exchange(client, RefreshToken.for_user(user))

    user.refresh_from_db()
    assert user.last_login is None


@pytest.mark.parametrize(
    "make_token",
    [
        lambda user: expired(RefreshToken.for_user(user)),
        lambda user: foreign_signed(RefreshToken.for_user(user)),
        lambda user: AccessToken.for_user(user),  # an access token, not a refresh token
        lambda user: RefreshToken.for_user(user).access_token,
        lambda user: "not-a-jwt",
        lambda user: "e30.e30.",  # {}.{}: no signature
        lambda user: "tkrt_" + "A" * 60,  # a refresh token of ours is not simplejwt's
    ],
    ids=[
        "expired",
        "wrong-signature",
        "access",
        "access-of-refresh",
        "garbage",
        "unsigned",
        "ours",
    ],
)
def test_what_simplejwt_refuses_is_invalid_grant_and_starts_nothing(
    client: Client, user: Any, make_token: Any, issued: list[dict[str, Any]]
) -> None:
    response = exchange(client, make_token(user))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response["Cache-Control"] == "no-store"
    assert not RefreshTokenFamily.objects.exists()
    assert issued == []


def test_an_inactive_user_cannot_exchange(client: Client, user: Any) -> None:
    refresh = RefreshToken.for_user(user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)

    response = exchange(client, refresh)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert not RefreshTokenFamily.objects.exists()


def test_a_deleted_user_cannot_exchange(client: Client, user: Any) -> None:
    refresh = RefreshToken.for_user(user)
    user.delete()

    response = exchange(client, refresh)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert not RefreshTokenFamily.objects.exists()


_MISSING = object()


@pytest.mark.parametrize(
    "user_id",
    [_MISSING, None, "", "not-a-pk", 10**30, -1, ["1"], {"id": 1}, "1 OR 1=1"],
    ids=["missing", "null", "empty", "text", "huge", "negative", "list", "object", "sql"],
)
def test_a_signed_token_naming_no_user_cannot_exchange(user: Any, user_id: Any) -> None:
    """Claims only a holder of simplejwt's key could sign: still a 400, never a 500."""
    refresh = RefreshToken.for_user(user)
    claim = simplejwt_settings.api_settings.USER_ID_CLAIM
    if user_id is _MISSING:
        del refresh[claim]
    else:
        refresh[claim] = user_id

    response = exchange(Client(raise_request_exception=False), refresh)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"
    assert not RefreshTokenFamily.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"refresh": ""},
        {"refresh": None},
        {"refresh": ["a", "b"]},
        {"refresh": {"token": "x"}},
        {"refresh": "x" * 9000},
        {"refresh_token": "tokenauth's field name is not simplejwt's"},
        [],
        "refresh",
    ],
    ids=["empty", "blank", "null", "list", "object", "too-long", "our-field", "array", "string"],
)
def test_a_malformed_body_is_invalid_request(client: Client, db: None, body: Any) -> None:
    response = post_json(client, EXCHANGE, body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert not RefreshTokenFamily.objects.exists()


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("refresh=x", "application/x-www-form-urlencoded", 415),
        (b"\xff\xfe\x00binary", "application/octet-stream", 415),
    ],
)
def test_a_body_that_is_not_json_is_refused(
    client: Client, db: None, data: Any, content_type: str, status: int
) -> None:
    response = client.post(EXCHANGE, data, content_type=content_type)

    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"


@given(refresh=st.text(max_size=300))
@hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_string_is_a_4xx_with_an_error_body(db: None, refresh: str) -> None:
    response = post_json(Client(raise_request_exception=False), EXCHANGE, {"refresh": refresh})

    assert response.status_code == 400, (response.status_code, response.content[:200])
    assert response.json()["error"] in ("invalid_grant", "invalid_request")


def test_exchange_is_not_behind_the_login_throttle(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(LOGIN_THROTTLE_RATE="1/min")

    statuses = [exchange(client, RefreshToken.for_user(user)).status_code for _ in range(3)]
    login = post_json(
        client, "/auth/login/", {"username": user.username, "password": PASSWORD}, **CLIENT_META
    )

    assert statuses == [200, 200, 200]
    assert login.status_code == 200  # the exchanges took none of the login's places


def test_cache_mode_with_the_cache_down_is_503_and_spends_nothing(
    client: Client, user: Any, settings: Any, tokenauth_settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS}
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="cache", CACHE_ALIAS="unreachable")
    refresh = RefreshToken.for_user(user)

    response = exchange(client, refresh)

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response["Retry-After"] == "5"
    assert not RefreshTokenFamily.objects.exists()
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="database", CACHE_ALIAS="default")
    assert exchange(client, refresh).status_code == 200  # the token was not spent


def test_no_raw_token_reaches_the_logs(
    client: Client, user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = RefreshToken.for_user(user), expired(RefreshToken.for_user(user))

    with caplog.at_level("DEBUG", logger="tokenauth"):
        body = exchange(client, good).json()
        exchange(client, bad)
        client.get(ME, **bearer(good.access_token))

    assert "exchanged for family" in caplog.text
    assert "exchange refused: expired" in caplog.text
    for secret in (str(good), bad, body["access_token"], body["refresh_token"]):
        assert secret not in caplog.text


# --- cookie mode ------------------------------------------------------------------------


def test_cookie_mode_sets_the_cookie_and_leaves_the_token_out_of_the_body(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})

    response = exchange(client, RefreshToken.for_user(user), **BROWSER)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == TOKEN_RESPONSE_FIELDS - {"refresh_token"}
    cookie = response.cookies[COOKIE]
    assert cookie.value.startswith("tkrt_")
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/auth/"  # tokenauth's prefix: the cookie goes to refresh/
    assert int(cookie["max-age"]) == body["refresh_token_expires_in"]
    refreshed = post_json(client, "/auth/refresh/", {}, **BROWSER)
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.cookies[COOKIE].value != cookie.value


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_ORIGIN": "http://testserver"},
        {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"},
        {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_ORIGIN": "null"},
    ],
    ids=["no-proof", "no-header", "no-origin", "foreign-origin", "null-origin"],
)
def test_cookie_mode_applies_logins_csrf_rule(
    client: Client, user: Any, tokenauth_settings: Any, headers: dict[str, str]
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    refresh = RefreshToken.for_user(user)

    refused = exchange(client, refresh, **headers)

    assert refused.status_code == 403
    assert refused.json()["error"] == "invalid_request"
    assert not refused.cookies
    assert not RefreshTokenFamily.objects.exists()
    assert exchange(client, refresh, **BROWSER).status_code == 200  # nothing was spent


@requires_browser
@pytest.mark.django_db(transaction=True)
def test_a_browser_app_moves_over_with_the_readmes_snippet(
    live_server: Any, user: Any, tokenauth_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cookie mode, in headless Chromium: the simplejwt token leaves localStorage, the session
    lands in a cookie the page cannot read, and tokenauth's client carries on from it."""
    from playwright.sync_api import sync_playwright

    tokenauth_settings(REFRESH_COOKIE={})  # the defaults: Secure (localhost counts as secure)
    refresh = str(RefreshToken.for_user(user))
    # Playwright's sync API keeps an event loop in this thread; the ORM below is synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page()
            page.goto(f"{live_server.url.replace('127.0.0.1', 'localhost')}/migrate/")
            page.evaluate("token => localStorage.setItem('refresh', token)", refresh)
            page.evaluate("() => localStorage.setItem('access', 'an old access token')")
            log = page.evaluate("() => window.migrate()")
            page.reload()  # the next start of the app: a new client, the cookie alone
            again = page.evaluate("() => window.migrate()")
        finally:
            chromium.close()

    assert log == [
        "exchange:200",
        "body-has-refresh-token:false",
        "simplejwt-tokens-left:0",
        "cookie-readable-by-js:false",
        f"me:200:{user.username}",
    ]
    assert again == [
        "simplejwt-tokens-left:0",
        "cookie-readable-by-js:false",
        f"me:200:{user.username}",
    ]
    family = RefreshTokenFamily.objects.get()
    assert family.generation == 2  # exchanged, then refreshed once per start of the app
    assert "Chrome" in family.user_agent


# --- with and without simplejwt's blacklist ---------------------------------------------


@without_blacklist
def test_without_the_blacklist_app_a_token_can_be_exchanged_again(
    client: Client, user: Any
) -> None:
    refresh = RefreshToken.for_user(user)

    first, second = exchange(client, refresh), exchange(client, refresh)

    assert (first.status_code, second.status_code) == (200, 200)
    assert RefreshTokenFamily.objects.count() == 2  # nothing remembers a simplejwt token


@with_blacklist
def test_a_second_exchange_of_one_token_is_invalid_grant(
    client: Client, user: Any, issued: list[dict[str, Any]]
) -> None:
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    refresh = RefreshToken.for_user(user)

    first, second = exchange(client, refresh), exchange(client, refresh)

    assert first.status_code == 200, first.content
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert RefreshTokenFamily.objects.count() == 1
    assert len(issued) == 1
    assert BlacklistedToken.objects.filter(token__jti=jti(refresh)).exists()


@with_blacklist
def test_a_token_blacklisted_by_simplejwt_cannot_be_exchanged(client: Client, user: Any) -> None:
    refresh = RefreshToken.for_user(user)
    refresh.blacklist()  # what simplejwt's logout (TokenBlacklistView) does

    response = exchange(client, refresh)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert not RefreshTokenFamily.objects.exists()


@with_blacklist
def test_a_token_issued_before_the_app_was_installed_is_blacklisted_too(
    client: Client, user: Any
) -> None:
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    refresh = RefreshToken.for_user(user)
    OutstandingToken.objects.filter(jti=jti(refresh)).delete()  # simplejwt never recorded it

    first, second = exchange(client, refresh), exchange(client, refresh)

    assert (first.status_code, second.status_code) == (200, 400)


@with_blacklist
def test_a_failure_after_blacklisting_undoes_the_blacklisting(user: Any) -> None:
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    refresh = RefreshToken.for_user(user)

    def _fail(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the family's insert failed")

    post_save.connect(_fail, sender=RefreshTokenFamily, weak=False, dispatch_uid="tests-fail")
    try:
        with pytest.raises(RuntimeError):
            exchange_refresh_token(refresh_token=str(refresh), ip=None, user_agent="")
    finally:
        post_save.disconnect(sender=RefreshTokenFamily, dispatch_uid="tests-fail")

    assert not BlacklistedToken.objects.exists()
    assert not RefreshTokenFamily.objects.exists()
    assert exchange(Client(), refresh).status_code == 200  # still the user's to exchange


@with_blacklist
def test_a_token_blacklisted_after_the_check_starts_no_family(
    client: Client, user: Any, issued: list[dict[str, Any]]
) -> None:
    """Another exchange (or simplejwt's logout) blacklists the token between simplejwt's
    check and ours: our blacklisting finds it done, and nothing is issued."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    refresh = RefreshToken.for_user(user)

    def _blacklist_meanwhile(sender: Any, **kwargs: Any) -> None:
        # The exchange's user lookup, after simplejwt's blacklist check: once only.
        post_init.disconnect(sender=get_user_model(), dispatch_uid="tests-meanwhile")
        BlacklistedToken.objects.create(token=OutstandingToken.objects.get(jti=jti(refresh)))

    post_init.connect(
        _blacklist_meanwhile, sender=get_user_model(), weak=False, dispatch_uid="tests-meanwhile"
    )
    try:
        response = exchange(client, refresh)
    finally:
        post_init.disconnect(sender=get_user_model(), dispatch_uid="tests-meanwhile")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert not RefreshTokenFamily.objects.exists()
    assert issued == []


@with_blacklist
@requires_server_database
def test_concurrent_exchanges_of_one_token_start_one_family(
    transactional_db: None, user: Any
) -> None:
    from tests.test_concurrency import run_concurrently

    refresh = str(RefreshToken.for_user(user))

    responses = run_concurrently(*[lambda: exchange(Client(), refresh)] * 8)

    assert sorted(r.status_code for r in responses) == [200] + [400] * 7
    assert RefreshTokenFamily.objects.count() == 1


def test_a_password_change_refuses_tokens_when_simplejwt_checks_it(
    client: Client, user: Any
) -> None:
    if not simplejwt_settings.api_settings.CHECK_REVOKE_TOKEN:
        pytest.skip("simplejwt's CHECK_REVOKE_TOKEN is on in the blacklist run only")
    refresh = RefreshToken.for_user(user)
    user.set_password("a new password")
    user.save()

    exchanged = exchange(client, refresh)
    api = client.get(ME, **bearer(refresh.access_token))

    assert exchanged.status_code == 400
    assert exchanged.json()["error"] == "invalid_grant"
    assert api.status_code == 401


@requires_server_database
@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_503_at_both_ends(
    client: Client, user: Any, request: pytest.FixtureRequest
) -> None:
    refresh = RefreshToken.for_user(user)
    request.getfixturevalue("database_down")

    api = client.get(ME, **bearer(refresh.access_token))
    exchanged = exchange(client, refresh)

    assert api.status_code == 503, api.content
    assert int(api["Retry-After"]) > 0
    assert exchanged.status_code == 503, exchanged.content
    assert exchanged.json()["error"] == "temporarily_unavailable"


# --- simplejwt stays optional -----------------------------------------------------------


def test_nothing_outside_the_contrib_imports_simplejwt() -> None:
    package = REPO_ROOT / "tokenauth"
    contrib = package / "contrib" / "simplejwt"
    importers = []
    for path in package.rglob("*.py"):
        if contrib in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "rest_framework_simplejwt" for name in names):
                importers.append(str(path.relative_to(REPO_ROOT)))

    assert importers == []


_WITHOUT_SIMPLEJWT = """
import importlib, pathlib, sys
sys.modules["rest_framework_simplejwt"] = None  # as if it were not installed
import django
django.setup()
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
for path in sorted(pathlib.Path("tokenauth").rglob("*.py")):
    name = ".".join(path.with_suffix("").parts).removesuffix(".__init__")
    if not name.startswith("tokenauth.contrib.simplejwt"):
        importlib.import_module(name)
print("imported:", len(sys.modules))
call_command("check", fail_level="ERROR")
try:
    import tokenauth.contrib.simplejwt.urls
except ImproperlyConfigured as exc:
    print("refused:", exc)
"""


def test_tokenauth_imports_without_simplejwt_and_the_contrib_says_what_is_missing() -> None:
    result = subprocess.run(  # noqa: S603  # our own interpreter and script
        [sys.executable, "-c", _WITHOUT_SIMPLEJWT],
        cwd=REPO_ROOT,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused: tokenauth.contrib.simplejwt needs djangorestframework-simplejwt" in (
        result.stdout
    ), result.stdout + result.stderr[-2000:]
    assert "pip install djangorestframework-simplejwt" in result.stdout


def test_the_suite_passes_in_its_own_process_with_the_blacklist_app() -> None:
    if BLACKLIST:
        pytest.skip("this is that process")
    result = subprocess.run(  # our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_contrib_simplejwt.py",
            "-q",
            "-p",
            "no:randomly",
            "--ds=tests.simplejwt_settings",
            "-k",
            "not in_its_own_process",
        ],
        cwd=REPO_ROOT,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "tests.simplejwt_settings"},
        capture_output=True,
        text=True,
        timeout=600,
    )

    output = result.stdout + result.stderr
    tail = "\n".join(output.splitlines()[-40:])
    assert result.returncode == 0, tail
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None and int(passed.group(1)) >= 40, tail
    assert not re.search(r"\d+ (failed|error)", result.stdout), tail
