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
