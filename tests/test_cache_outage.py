"""What an unreachable cache means (DESIGN §2, §3, §5): ``CACHE_FAILURE`` decides, for the
revocation cache and for the login throttle alike. "closed": token endpoints answer 503
``temporarily_unavailable`` and access tokens are refused (401); "open": everything carries on.
Where the cache is not load-bearing (``database`` and ``none`` modes, the throttle off) an outage
changes nothing. One real Redis client against a port where nothing listens; nothing is mocked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.signals import user_logged_in
from django.test import Client

from tests.conftest import IP, UA, UNREACHABLE_REDIS, assert_invalid_token, post_json, post_login
from tests.factories import PASSWORD
from tokenauth import service
from tokenauth.access import decode_access_token
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db

CLOSED = {"ACCESS_TOKEN_REVOCATION": "cache", "CACHE_FAILURE": "closed"}
HOME = "203.0.113.7"
WHOAMI = "/api/whoami/"


@pytest.fixture
def cache_down(settings: Any, tokenauth_settings: Any) -> Callable[..., None]:
    """Point ``CACHE_ALIAS`` at the unreachable cache, with these other TOKENAUTH values."""
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS}
    return lambda **values: tokenauth_settings(CACHE_ALIAS="unreachable", **values)


def _get(client: Client, path: str, access_token: str) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {access_token}")


def _claims(tokens: service.IssuedTokens) -> Any:
    return decode_access_token(tokens.access_token)


def _password_login(user: Any, answer: Any, calls: list[str], ip: str = "198.51.100.7") -> Any:
    def authenticate() -> Any:
        calls.append("hash")
        return answer

    return service.login_with_password(
        username=user.username, authenticate=authenticate, ip=ip, user_agent=UA
    )


# --- protected resources: cache mode reads the revocation cache per request ---------------


@pytest.mark.parametrize(("failure", "status"), [("closed", 401), ("open", 200)])
def test_cache_mode_unreachable_cache_follows_cache_failure(
    cache_down: Any,
    client: Client,
    user: Any,
    login: Any,
    failure: str,
    status: int,
) -> None:
    tokens = login(user)
    cache_down(ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE=failure)

    response = _get(client, WHOAMI, tokens["access_token"])

    assert response.status_code == status, response.content
    if status == 401:
        assert_invalid_token(response)
    else:
        assert response.json() == {"id": user.pk, "authenticated": True}


def test_cache_mode_unreachable_cache_is_closed_by_default(
    cache_down: Any, client: Client, user: Any, login: Any
) -> None:
    tokens = login(user)
    cache_down(ACCESS_TOKEN_REVOCATION="cache")

    assert_invalid_token(_get(client, WHOAMI, tokens["access_token"]))


# --- refresh and login over HTTP ----------------------------------------------------------


@pytest.fixture
def refresh_token(client: Client, login: Any, user: Any) -> str:
    return str(login(user)["refresh_token"])


@pytest.mark.parametrize("url", ["/auth/refresh/", "/auth/token/"])
def test_cache_mode_closed_refresh_is_503_and_rotates_nothing(
    client: Client, refresh_token: str, cache_down: Any, url: str
) -> None:
    cache_down(ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE="closed")
    body: dict[str, str] = {"refresh_token": refresh_token}
    if url == "/auth/token/":
        body["grant_type"] = "refresh_token"

    response = post_json(client, url, body)

    assert response.status_code == 503, response.content
    assert response.json()["error"] == "temporarily_unavailable"
    assert int(response["Retry-After"]) > 0
    assert RefreshTokenFamily.objects.get().generation == 0  # the token is still good


@pytest.mark.parametrize(
    "settings_values",
    [
        {"ACCESS_TOKEN_REVOCATION": "cache", "CACHE_FAILURE": "open"},
        {"ACCESS_TOKEN_REVOCATION": "database"},
        {"ACCESS_TOKEN_REVOCATION": "none"},
    ],
)
def test_elsewhere_refresh_does_not_need_the_cache(
    client: Client, refresh_token: str, cache_down: Any, settings_values: dict[str, str]
) -> None:
    cache_down(**settings_values)

    response = post_json(client, "/auth/refresh/", {"refresh_token": refresh_token})

    assert response.status_code == 200, response.content
    assert RefreshTokenFamily.objects.get().generation == 1


def test_cache_mode_closed_login_is_503_even_with_the_throttle_off(
    client: Client, user: Any, cache_down: Any
) -> None:
    cache_down(ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE="closed", LOGIN_THROTTLE_RATE=None)

    response = post_json(client, "/auth/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 503, response.content
    assert response.json()["error"] == "temporarily_unavailable"
    assert not RefreshTokenFamily.objects.exists()  # no family that nothing would accept


# --- the login throttle's cache -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["database", "cache", "none"])
def test_an_unreachable_throttle_cache_closed_is_503_in_every_mode(
    client: Client, user: Any, cache_down: Any, mode: str
) -> None:
    cache_down(LOGIN_THROTTLE_RATE="10/min", ACCESS_TOKEN_REVOCATION=mode, CACHE_FAILURE="closed")

    response = post_login(client, user, REMOTE_ADDR=HOME)

    assert response.status_code == 503, response.content
    assert response.json()["error"] == "temporarily_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not RefreshTokenFamily.objects.exists()


def test_an_unreachable_throttle_cache_open_lets_logins_through(
    client: Client,
    user: Any,
    cache_down: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_down(LOGIN_THROTTLE_RATE="10/min", CACHE_FAILURE="open")

    with caplog.at_level(logging.ERROR, logger="tokenauth"):
        response = post_login(client, user, REMOTE_ADDR=HOME)

    assert response.status_code == 200, response.content
    assert any("throttle" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_database_mode_login_survives_an_unreachable_throttle_cache_when_open(
    client: Client, user: Any, cache_down: Any
) -> None:
    cache_down(
        LOGIN_THROTTLE_RATE="10/min", ACCESS_TOKEN_REVOCATION="database", CACHE_FAILURE="open"
    )

    response = post_login(client, user)

    assert response.status_code == 200, response.content
    assert response.json()["access_token"]
    assert RefreshTokenFamily.objects.filter(user=user).count() == 1


def test_cache_mode_open_login_with_an_unreachable_cache_is_200(
    client: Client, user: Any, cache_down: Any
) -> None:
    cache_down(LOGIN_THROTTLE_RATE="10/min", ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE="open")

    response = post_login(client, user)

    assert response.status_code == 200, response.content


# --- the service called directly gets the same rules (DESIGN §6) --------------------------


def test_refresh_in_cache_mode_closed_with_the_cache_down_spends_nothing(
    user: Any, cache_down: Any
) -> None:
    tokens = service.login(user=user, ip=IP, user_agent=UA)
    cache_down(**CLOSED)

    with pytest.raises(service.TemporarilyUnavailable):
        service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)

    assert RefreshTokenFamily.objects.get().generation == 0  # the token is still good


def test_issue_tokens_in_cache_mode_closed_with_the_cache_down_starts_no_family(
    user: Any, cache_down: Any
) -> None:
    cache_down(**CLOSED)

    with pytest.raises(service.TemporarilyUnavailable):
        service.issue_tokens(user=user, ip=IP, user_agent=UA)

    assert not RefreshTokenFamily.objects.exists()


def test_login_in_cache_mode_closed_with_the_cache_down_sends_no_user_logged_in(
    user: Any, cache_down: Any
) -> None:
    cache_down(**CLOSED)
    heard: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        heard.append(kwargs["user"])

    user_logged_in.connect(receiver)
    try:
        with pytest.raises(service.TemporarilyUnavailable):
            service.login(user=user, ip=IP, user_agent=UA)
    finally:
        user_logged_in.disconnect(receiver)

    assert heard == []
    assert not RefreshTokenFamily.objects.exists()


@pytest.mark.parametrize(
    "values",
    [
        {"ACCESS_TOKEN_REVOCATION": "cache", "CACHE_FAILURE": "open"},
        {"ACCESS_TOKEN_REVOCATION": "database"},
        {"ACCESS_TOKEN_REVOCATION": "none"},
    ],
)
def test_elsewhere_the_service_does_not_need_the_cache(
    user: Any, cache_down: Any, values: dict[str, str]
) -> None:
    cache_down(**values)

    tokens = service.issue_tokens(user=user, ip=IP, user_agent=UA)
    service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)

    assert RefreshTokenFamily.objects.get().generation == 1


def test_user_for_claims_in_cache_mode_closed_with_the_cache_down_is_unverifiable(
    user: Any, cache_down: Any
) -> None:
    claims = _claims(service.issue_tokens(user=user))
    cache_down(**CLOSED)

    with pytest.raises(service.AccessTokenRefused) as excinfo:
        service.user_for_claims(claims=claims)

    assert excinfo.value.reason == "unverifiable"


def test_user_for_claims_in_cache_mode_open_with_the_cache_down_lets_the_token_in(
    user: Any, cache_down: Any, django_assert_num_queries: Any
) -> None:
    claims = _claims(service.issue_tokens(user=user))
    cache_down(ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE="open")

    with django_assert_num_queries(0):
        found = service.user_for_claims(claims=claims)

    assert found.user is None and found.user_pk == user.pk
    assert service.load_user(user_pk=found.user_pk, password_version=None) == user


def test_login_with_password_in_cache_mode_closed_with_the_cache_down_spends_no_hash(
    user: Any, cache_down: Any
) -> None:
    cache_down(**CLOSED, LOGIN_THROTTLE_RATE=None)
    calls: list[str] = []

    with pytest.raises(service.TemporarilyUnavailable):
        _password_login(user, user, calls)

    assert calls == []
    assert not RefreshTokenFamily.objects.exists()


def test_login_with_password_with_the_throttle_cache_down_and_closed_spends_no_hash(
    user: Any, cache_down: Any
) -> None:
    cache_down(CACHE_FAILURE="closed", LOGIN_THROTTLE_RATE="5/min")
    calls: list[str] = []

    with pytest.raises(service.TemporarilyUnavailable):
        _password_login(user, user, calls)

    assert calls == []
