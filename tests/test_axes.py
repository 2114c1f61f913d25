"""django-axes in front of login/ and token/ (DESIGN §2 "Login"), over HTTP.

axes is installed but off in tests/settings.py; the ``axes`` fixture turns it on as its
documentation says: its backend first, its middleware last, a failure limit of 3.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessLog
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in
from django.db import connection
from django.http import HttpRequest
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import PermissionDenied

from tests.conftest import post_json
from tests.factories import PASSWORD
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db

FAILURE_LIMIT = 3


@pytest.fixture
def axes(settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = FAILURE_LIMIT
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "axes.middleware.AxesMiddleware"]


def _login(client: Client, user: Any, password: str = PASSWORD, url: str = "/auth/login/") -> Any:
    return post_json(client, url, {"username": user.username, "password": password})


def _fail_until_locked(client: Client, user: Any) -> None:
    """Wrong passwords up to the limit: the one that reaches it is already the lockout."""
    responses = [_login(client, user, password="wrong") for _ in range(FAILURE_LIMIT)]
    errors = [response.json()["error"] for response in responses]
    assert errors == ["invalid_grant"] * (FAILURE_LIMIT - 1) + ["too_many_requests"]


@pytest.mark.usefixtures("axes")
@pytest.mark.parametrize("url", ["/auth/login/", "/auth/token/"])
def test_a_correct_login_is_200_and_axes_records_it(client: Client, user: Any, url: str) -> None:
    body = {"username": user.username, "password": PASSWORD}
    if url == "/auth/token/":
        body["grant_type"] = "password"

    response = post_json(client, url, body, REMOTE_ADDR="198.51.100.7")

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.last_login is not None
    assert RefreshTokenFamily.objects.filter(user=user).count() == 1
    access = AccessLog.objects.get()  # axes' user_logged_in receiver read the request
    assert (access.username, access.ip_address) == (user.username, "198.51.100.7")


def test_the_view_hands_its_django_request_to_user_logged_in(client: Client, user: Any) -> None:
    received: list[Any] = []

    def _receiver(sender: Any, request: Any, **kwargs: Any) -> None:
        received.append(request)

    user_logged_in.connect(_receiver, weak=False, dispatch_uid="tests-login-request")
    try:
        response = post_json(
            client,
            "/auth/login/",
            {"username": user.username, "password": PASSWORD},
            REMOTE_ADDR="198.51.100.7",
        )
    finally:
        user_logged_in.disconnect(dispatch_uid="tests-login-request")

    assert response.status_code == 200
    [request] = received
    assert isinstance(request, HttpRequest)  # Django's, as every receiver expects
    assert request.META["REMOTE_ADDR"] == "198.51.100.7"
    assert request.path == "/auth/login/"


@pytest.mark.usefixtures("axes")
@pytest.mark.parametrize("password", [PASSWORD, "wrong"])
def test_a_locked_out_login_is_429_even_with_the_right_password(
    client: Client, user: Any, password: str
) -> None:
    _fail_until_locked(client, user)

    response = _login(client, user, password=password)

    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "too_many_requests"
    assert body["error_description"].startswith("Too many login attempts.")
    assert int(response["Retry-After"]) > 0  # no AXES_COOLOFF_TIME: locked until an admin lifts it
    assert response["Cache-Control"] == "no-store"
    assert not RefreshTokenFamily.objects.exists()
    user.refresh_from_db()
    assert user.last_login is None
    assert AccessAttempt.objects.get().failures_since_start >= FAILURE_LIMIT


@pytest.mark.usefixtures("axes")
def test_the_token_endpoint_is_locked_out_alike(client: Client, user: Any) -> None:
    _fail_until_locked(client, user)

    response = post_json(
        client,
        "/auth/token/",
        {"grant_type": "password", "username": user.username, "password": PASSWORD},
    )

    assert response.status_code == 429
    assert response.json()["error"] == "too_many_requests"


def _deny(**kwargs: Any) -> None:
    raise PermissionDenied("Too many failed login attempts")


@pytest.mark.usefixtures("axes")
def test_axes_drf_recipe_permission_denied_is_a_403_with_an_error_body(
    client: Client, user: Any
) -> None:
    # axes' documentation for DRF: a user_locked_out receiver that raises PermissionDenied.
    user_locked_out.connect(_deny, weak=False, dispatch_uid="tests-axes-drf")
    try:
        statuses = [_login(client, user, password="wrong").status_code for _ in range(3)]
        response = _login(client, user)
    finally:
        user_locked_out.disconnect(dispatch_uid="tests-axes-drf")

    assert statuses == [400, 400, 403]  # the third failure reaches the limit
    assert response.status_code == 403
    assert response.json() == {
        "error": "access_denied",
        "error_description": "Too many failed login attempts",
    }
    assert not RefreshTokenFamily.objects.exists()


def test_axes_disabled_costs_no_statement(client: Client, user: Any, settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    with CaptureQueriesContext(connection) as queries:
        response = _login(client, user)

    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if "axes" in q["sql"]]


def test_an_axes_lockout_has_retry_after(client: Client, user: Any, settings: Any) -> None:
    """DESIGN §3: "A throttled login gets 429 with a Retry-After header"."""
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 1
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "axes.middleware.AxesMiddleware"]
    body = {"username": user.username, "password": "wrong"}
    post_json(client, "/auth/login/", body)

    response = post_json(client, "/auth/login/", {**body, "password": PASSWORD})

    assert response.status_code == 429
    assert response["Retry-After"] == "1800"  # axes' cool-off
