"""A locked or unreachable database gives 503 ``temporarily_unavailable``, never a 500 (DESIGN §3).

Real failures on a server database (PostgreSQL, MariaDB): a row lock that outlasts the lock
timeout, and a connection to a port where no server listens. Nothing is mocked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client

from tests.conftest import lock_timeout, post_json, requires_server_database
from tests.factories import PASSWORD, UserFactory
from tokenauth.models import RefreshTokenFamily

pytestmark = [requires_server_database, pytest.mark.django_db(transaction=True)]


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "temporarily_unavailable"
    assert int(response["Retry-After"]) > 0


@pytest.fixture
def tokens(client: Client) -> dict[str, Any]:
    user = UserFactory()
    body = {"username": user.username, "password": PASSWORD}
    response = post_json(client, "/auth/login/", body)
    assert response.status_code == 200
    return response.json()


def test_a_refresh_that_cannot_get_the_row_lock_is_503_and_changes_nothing(
    client: Client, tokens: dict[str, Any]
) -> None:
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                RefreshTokenFamily.objects.select_for_update().get()
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    assert locked.wait(timeout=30)
    before = RefreshTokenFamily.objects.values().get()
    try:
        with lock_timeout(1):
            response = post_json(
                client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]}
            )
    finally:
        release.set()
        holder.join(timeout=30)

    assert_unavailable(response)
    assert RefreshTokenFamily.objects.values().get() == before
    retried = post_json(client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert retried.status_code == 200


@pytest.fixture
def database_down() -> Iterator[None]:
    """Point the connection at a port where nothing listens, then put it back."""
    settings_dict = connection.settings_dict
    port = settings_dict["PORT"]
    connection.close()
    settings_dict["PORT"] = 1
    try:
        yield
    finally:
        connection.close()
        settings_dict["PORT"] = port


def test_token_endpoints_answer_503_when_the_database_is_down(
    client: Client, tokens: dict[str, Any], database_down: None
) -> None:
    user_body = {"username": "anyone", "password": PASSWORD}

    assert_unavailable(post_json(client, "/auth/login/", user_body))
    assert_unavailable(
        post_json(client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})
    )
    logout = post_json(client, "/auth/logout/", {"refresh_token": tokens["refresh_token"]})
    assert_unavailable(logout)


def test_protected_resources_answer_503_when_the_database_is_down(
    client: Client, tokens: dict[str, Any], database_down: None
) -> None:
    response = client.get("/api/whoami/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("mode", ["cache", "none"])
def test_a_lazy_user_that_cannot_load_is_503_not_500(
    mode: str, client: Client, tokens: dict[str, Any], tokenauth_settings: Any, request: Any
) -> None:
    """No query at authentication; the view's ``get_username()`` meets the dead database."""
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    request.getfixturevalue("database_down")
    client.raise_request_exception = False

    response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert response.status_code == 503, response.content
    assert response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def test_the_service_recovers_when_the_database_comes_back(
    client: Client, tokens: dict[str, Any]
) -> None:
    settings_dict = connection.settings_dict
    port = settings_dict["PORT"]
    connection.close()
    settings_dict["PORT"] = 1
    try:
        down = post_json(client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})
    finally:
        connection.close()
        settings_dict["PORT"] = port

    assert_unavailable(down)
    up = post_json(client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert up.status_code == 200
    assert RefreshTokenFamily.objects.get().generation == 1


@pytest.mark.parametrize(
    ("method", "url"), [("get", "/auth/sessions/"), ("post", "/auth/logout-all/")]
)
def test_tokenauth_protected_endpoints_answer_503_with_the_rfc_body_when_the_database_is_down(
    client: Client, tokens: dict[str, Any], database_down: None, method: str, url: str
) -> None:
    """The authentication class's own 503 gets the body of every other tokenauth 503 (one
    error body per status in the OpenAPI schema), not DRF's ``{"detail": ...}``."""
    response = getattr(client, method)(url, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert_unavailable(response)
    assert set(response.json()) == {"error", "error_description"}
