"""Refresh with the revocation cache unreachable (DESIGN §3): 503 only where the cache is
load-bearing, ``cache`` mode with ``CACHE_FAILURE`` "closed"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import UNREACHABLE_REDIS, post_json
from tests.factories import PASSWORD
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db


@pytest.fixture
def refresh_token(client: Client, login: Any, user: Any) -> str:
    return str(login(user)["refresh_token"])


@pytest.fixture
def cache_down(settings: Any, tokenauth_settings: Any) -> Any:
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS}
    return lambda **values: tokenauth_settings(CACHE_ALIAS="unreachable", **values)


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
