"""What only ``EmailUser`` shows: ``USERNAME_FIELD = "email"``, no ``is_active`` column, no
``is_staff`` (so no admin login). Collected only under ``tests.custom_user.email_user.settings``
(tests/custom_user/conftest.py); test_custom_user.py runs for it too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from tests.conftest import post_json
from tests.custom_user.email_user.models import EmailUser
from tests.factories import PASSWORD
from tokenauth import service
from tokenauth.models import RefreshTokenFamily

EMAIL = "alice@example.com"


@pytest.fixture
def email_user(db: None) -> EmailUser:
    return EmailUser.objects.create_user(EMAIL, PASSWORD)


def post_form(client: Client, url: str, body: str) -> Any:
    return client.post(url, body, content_type="application/x-www-form-urlencoded")


def login(client: Client, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client, "/auth/login/", {"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client: Client, refresh_token: str) -> Any:
    return post_json(client, "/auth/refresh/", {"refresh_token": refresh_token})


def assert_error(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"] == error


def test_the_suite_runs_on_an_email_user_without_an_is_active_column() -> None:
    assert get_user_model() is EmailUser
    assert EmailUser.USERNAME_FIELD == "email"
    assert "is_active" not in {field.name for field in EmailUser._meta.concrete_fields}
    assert EmailUser.is_active is True  # AbstractBaseUser's class attribute


def test_login_takes_the_username_field(client: Client, email_user: EmailUser) -> None:
    response = post_json(client, "/auth/login/", {"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"] and body["refresh_token"]
    family = RefreshTokenFamily.objects.get(user=email_user)
    assert family.revoked_at is None


def test_login_with_username_instead_of_email_is_invalid_request(
    client: Client, email_user: EmailUser
) -> None:
    response = post_json(client, "/auth/login/", {"username": EMAIL, "password": PASSWORD})

    assert_error(response, 400, "invalid_request")
    assert not RefreshTokenFamily.objects.exists()


def test_token_password_grant_maps_rfc_username_onto_email(
    client: Client, email_user: EmailUser
) -> None:
    body = urlencode({"grant_type": "password", "username": EMAIL, "password": PASSWORD})

    response = post_form(client, "/auth/token/", body)

    assert response.status_code == 200, response.content
    assert response.json()["refresh_token"]
    assert RefreshTokenFamily.objects.filter(user=email_user).count() == 1


def test_token_password_grant_with_a_wrong_password_is_invalid_grant(
    client: Client, email_user: EmailUser
) -> None:
    body = urlencode({"grant_type": "password", "username": EMAIL, "password": "wrong"})

    assert_error(post_form(client, "/auth/token/", body), 400, "invalid_grant")


def test_saving_the_user_without_an_is_active_column_works_and_revokes_nothing(
    client: Client, email_user: EmailUser, django_capture_on_commit_callbacks: Any
) -> None:
    tokens = login(client, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        email_user.save()
        email_user.email = "alice@example.org"
        email_user.save()

    assert EmailUser.objects.get().email == "alice@example.org"
    assert RefreshTokenFamily.objects.get(user=email_user).revoked_at is None
    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_the_admin_finds_and_names_users_by_their_username_field(email_user: EmailUser) -> None:
    # EmailUser has no is_staff, so nobody can log in to this admin: ask the admin class itself.
    family_admin = admin.site._registry[RefreshTokenFamily]
    service.issue_tokens(user=email_user)
    service.issue_tokens(user=EmailUser.objects.create_user("bob@example.net", PASSWORD))
    request = RequestFactory().get("/admin/tokenauth/refreshtokenfamily/")
    families = family_admin.get_queryset(request)

    found, _ = family_admin.get_search_results(request, families, "alice@")

    assert family_admin.get_search_fields(request)[-1:] == ["user__email__icontains"]
    [family] = found
    assert family.user == email_user
    assert str(family_admin.username(family)) == "alice@<wbr>example.<wbr>com"
    assert str(family) == f"family {family.public_id} of {EMAIL}"
