"""Regression tests for the review fixes: each one fails against the code it fixed."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from tests.conftest import UNREACHABLE_REDIS, post_json
from tests.factories import PASSWORD, UserFactory
from tokenauth import _family, keys, service
from tokenauth.checks import check_settings
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.settings import get_settings

IP = "203.0.113.10"
UA = "pytest-agent/1.0"
BROWSER = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_ORIGIN": "http://testserver"}
COOKIE = "__Secure-tokenauth-refresh"


def _error_ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


# --- 1. a save that failed after pre_save leaves no pending revocation ----------------------


def test_a_failed_save_then_an_unrelated_save_revokes_nothing(
    user: Any, revoked_events: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    tokens = service.login(user=user, ip=IP, user_agent=UA)
    other = UserFactory()
    username = user.username

    user.is_active = False  # pre_save notes a deactivation ...
    user.username = other.username  # ... then the UPDATE breaks the unique constraint
    with pytest.raises(IntegrityError), transaction.atomic():
        user.save()

    user.is_active = True
    user.username = username
    user.first_name = "Alice"
    with django_capture_on_commit_callbacks(execute=True):
        user.save(update_fields=["first_name"])

    family = RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)
    assert family.revoked_at is None
    assert family.revocation_reason == ""
    assert revoked_events == []
    assert service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)


# --- 2. LOGIN_THROTTLE_RATE reads periods as DRF does ---------------------------------------


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("10/minute", (10, 60)),
        ("5/second", (5, 1)),
        ("100/hour", (100, 3600)),
        ("1000/day", (1000, 86400)),
        ("10/min", (10, 60)),
    ],
)
def test_drf_style_throttle_rates_are_accepted(
    settings: Any, rate: str, parsed: tuple[int, int]
) -> None:
    settings.TOKENAUTH = {"LOGIN_THROTTLE_RATE": rate}

    assert "tokenauth.E002" not in _error_ids(check_settings())
    assert get_settings().login_throttle_rate == parsed


def test_an_unknown_throttle_period_is_e002(settings: Any) -> None:
    settings.TOKENAUTH = {"LOGIN_THROTTLE_RATE": "10/fortnight"}

    messages = [m for m in check_settings() if m.id == "tokenauth.E002"]

    assert len(messages) == 1
    assert "LOGIN_THROTTLE_RATE" in messages[0].msg


# --- 3. an unreachable throttle cache -------------------------------------------------------


@pytest.fixture
def unreachable_throttle_cache(settings: Any, tokenauth_settings: Any) -> Any:
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS}
    tokenauth_settings(CACHE_ALIAS="unreachable", LOGIN_THROTTLE_RATE="10/min")
    return tokenauth_settings


def _login(client: Client, user: Any, **extra: Any) -> Any:
    body = {"username": user.username, "password": PASSWORD}
    return post_json(client, "/auth/login/", body, **extra)


def test_database_mode_login_survives_an_unreachable_throttle_cache_when_open(
    client: Client, user: Any, unreachable_throttle_cache: Any
) -> None:
    # DESIGN §2: CACHE_FAILURE decides for the throttle too; "closed" is 503 (test_login_throttle).
    unreachable_throttle_cache(ACCESS_TOKEN_REVOCATION="database", CACHE_FAILURE="open")

    response = _login(client, user)

    assert response.status_code == 200, response.content
    assert response.json()["access_token"]
    assert RefreshTokenFamily.objects.filter(user=user).count() == 1


def test_cache_mode_closed_login_with_an_unreachable_cache_is_503(
    client: Client, user: Any, unreachable_throttle_cache: Any
) -> None:
    unreachable_throttle_cache(ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE="closed")

    response = _login(client, user)

    assert response.status_code == 503, response.content
    assert response.json()["error"] == "temporarily_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not RefreshTokenFamily.objects.exists()


def test_cache_mode_open_login_with_an_unreachable_cache_is_200(
    client: Client, user: Any, unreachable_throttle_cache: Any
) -> None:
    unreachable_throttle_cache(ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE="open")

    response = _login(client, user)

    assert response.status_code == 200, response.content


# --- 4. the key set's repr hides the HS secrets ---------------------------------------------


def _renderings(secret: bytes) -> list[str]:
    return [
        base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii"),
        base64.b64encode(secret).rstrip(b"=").decode("ascii"),
        secret.hex(),
        repr(secret),
    ]


def test_the_key_set_repr_does_not_contain_the_derived_hs_secret(settings: Any) -> None:
    settings.SECRET_KEY_FALLBACKS = ["old-tests-secret-key-that-is-long-enough-for-hmac-0123456"]
    key_set = keys.get_key_set()
    secrets = [key.verifying_key for key in key_set.by_kid.values()]
    assert key_set.signing.signing_key in secrets
    assert len(secrets) == 2
    assert all(isinstance(secret, bytes) and len(secret) >= 32 for secret in secrets)

    text = repr(key_set) + str(key_set) + repr(key_set.signing)

    for secret in secrets:
        for rendering in _renderings(secret):
            assert rendering not in text


# --- 5. revoke_rows signals only when its UPDATE changed rows -------------------------------


def test_revoking_the_same_family_twice_signals_once(
    user: Any, revoked_events: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    tokens = service.login(user=user, ip=IP, user_agent=UA)
    family = RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)
    rows = [(family.pk, family.public_id, family.user_id)]
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = _family.revoke_rows(rows, RevocationReason.ADMIN, now)
        second = _family.revoke_rows(rows, RevocationReason.ADMIN, now)

    assert (first, second) == (1, 0)
    assert revoked_events == [
        {
            "user_id": user.pk,
            "family_public_id": family.public_id,
            "reason": RevocationReason.ADMIN,
        }
    ]


# --- 6. token endpoints answer JSON whatever Accept says ------------------------------------


def test_login_answers_json_to_a_client_that_accepts_html(client: Client, user: Any) -> None:
    response = _login(client, user, HTTP_ACCEPT="text/html")

    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("url", "body", "error"),
    [
        ("/auth/login/", {"username": "nobody", "password": "wrong"}, "invalid_grant"),
        ("/auth/login/", {"password": "no username"}, "invalid_request"),
        ("/auth/refresh/", {"refresh_token": "tkrt_garbage"}, "invalid_grant"),
    ],
)
def test_token_endpoint_errors_stay_rfc_shaped_for_a_client_that_accepts_html(
    client: Client, db: None, url: str, body: dict[str, str], error: str
) -> None:
    response = post_json(client, url, body, HTTP_ACCEPT="text/html")

    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"error", "error_description"}
    assert response.json()["error"] == error


# --- 7. cookie-mode logout clears the cookie only for a request that carried a token --------


@pytest.mark.parametrize("body", ["", "{}", "refresh_token="])
def test_cookie_mode_logout_from_a_foreign_page_sets_no_cookie(
    client: Client, user: Any, tokenauth_settings: Any, body: str
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    post_json(client, "/auth/login/", {"username": user.username, "password": PASSWORD}, **BROWSER)
    before = RefreshTokenFamily.objects.values().get()
    stranger = Client()  # the victim's browser sends no cookie to the attacker's request

    response = stranger.post(
        "/auth/logout/",
        body,
        content_type="text/plain",
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code < 500, response.content
    assert not response.cookies, response.cookies.output()
    assert not response.has_header("Set-Cookie")
    assert RefreshTokenFamily.objects.values().get() == before


def test_cookie_mode_logout_with_the_cookie_and_csrf_proof_clears_it(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    body = {"username": user.username, "password": PASSWORD}
    assert post_json(client, "/auth/login/", body, **BROWSER).status_code == 200
    assert client.cookies[COOKIE].value

    response = post_json(client, "/auth/logout/", {}, **BROWSER)

    assert response.status_code == 204, response.content
    cookie = response.cookies[COOKIE]
    assert cookie.value == ""
    assert str(cookie["max-age"]) == "0"
    assert cookie["path"] == "/auth/"
    family = RefreshTokenFamily.objects.get(user=user)
    assert family.revocation_reason == RevocationReason.LOGOUT
