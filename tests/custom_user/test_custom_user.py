"""What matters to a project with its own user model, under each model of tests/custom_user:
login, refresh, authentication in every revocation mode, a password change that revokes, and
the admin's family list. Runs once per model (``python -m tests.custom_user``)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, RequestFactory
from rest_framework.request import Request

from tests.conftest import bearer, post_json
from tests.custom_user.conftest import USERNAME, create_user, credentials
from tokenauth import service
from tokenauth.access import decode_access_token
from tokenauth.authentication import AccessTokenAuthentication
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tokenauth/refreshtokenfamily/"
has_staff = pytest.mark.skipif(
    not any(field.name == "is_staff" for field in get_user_model()._meta.fields),
    reason="this user model has no is_staff, so nobody logs in to its admin "
    "(test_email_user.py asks the admin class itself)",
)


def _login(client: Client, committed: Any) -> dict[str, Any]:
    with committed():
        response = post_json(client, "/auth/login/", credentials())
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(client: Client, refresh_token: str) -> Any:
    return post_json(client, "/auth/refresh/", {"refresh_token": refresh_token})


def _concrete_fields() -> list[Any]:
    return list(get_user_model()._meta.concrete_fields)


def _json_pk(user: Any) -> Any:
    """The pk as a JSON body carries it: UUIDs as text, integers as numbers."""
    return user.pk if isinstance(user.pk, int) else str(user.pk)


def test_the_process_runs_under_a_custom_user_model() -> None:
    assert settings.AUTH_USER_MODEL != "auth.User"
    assert get_user_model()._meta.label == settings.AUTH_USER_MODEL


def test_the_user_app_and_tokenauth_need_no_new_migration() -> None:
    # tokenauth's foreign key follows AUTH_USER_MODEL: its one migration fits every user model.
    app_label = get_user_model()._meta.app_label
    out = StringIO()
    call_command("makemigrations", app_label, "tokenauth", check=True, dry_run=True, stdout=out)

    assert "No changes detected" in out.getvalue()


def test_login_starts_a_family_and_names_the_user_in_sub(
    client: Client, custom_user: Any, committed: Any
) -> None:
    body = _login(client, committed)

    assert body["token_type"] == "Bearer"
    assert body["access_token"] and body["refresh_token"]
    family = RefreshTokenFamily.objects.get(user=custom_user)
    assert family.revoked_at is None
    claims = decode_access_token(body["access_token"])
    assert claims.user_id == str(custom_user.pk)
    assert claims.family_public_id == family.public_id


def test_refresh_rotates(client: Client, custom_user: Any, committed: Any) -> None:
    tokens = _login(client, committed)

    response = _refresh(client, tokens["refresh_token"])

    assert response.status_code == 200, response.content
    assert response.json()["refresh_token"] != tokens["refresh_token"]
    assert RefreshTokenFamily.objects.get(user=custom_user).generation == 1


@pytest.mark.parametrize("mode", ["database", "cache", "none"])
def test_an_access_token_authenticates_its_user(
    client: Client, custom_user: Any, committed: Any, tokenauth_settings: Any, mode: str
) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    tokens = _login(client, committed)

    me = client.get("/api/me/", **bearer(tokens["access_token"]))
    whoami = client.get("/api/whoami/", **bearer(tokens["access_token"]))

    assert me.status_code == 200, me.content
    assert me.json() == {"id": _json_pk(custom_user), "username": USERNAME}
    assert whoami.status_code == 200, whoami.content
    assert whoami.json() == {"id": _json_pk(custom_user), "authenticated": True}
    assert client.get("/api/me/").status_code == 401


@pytest.mark.parametrize(("mode", "queries"), [("database", 1), ("cache", 0), ("none", 0)])
def test_authentication_costs_what_it_costs_with_djangos_user(
    client: Client,
    custom_user: Any,
    committed: Any,
    tokenauth_settings: Any,
    django_assert_num_queries: Any,
    mode: str,
    queries: int,
) -> None:
    # DESIGN §5: database mode reads the family and its user in one join; the others none.
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    tokens = _login(client, committed)

    with django_assert_num_queries(queries):
        response = client.get("/api/whoami/", **bearer(tokens["access_token"]))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("mode", ["database", "cache", "none"])
def test_the_authenticated_user_is_the_whole_row_with_a_pk_of_its_type(
    custom_user: Any, tokenauth_settings: Any, django_assert_max_num_queries: Any, mode: str
) -> None:
    """Every field of the user model, a parent table's included, without a query per field."""
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    access_token = service.issue_tokens(user=custom_user).access_token
    request = Request(RequestFactory().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access_token}"))

    user, _ = AccessTokenAuthentication().authenticate(request)  # type: ignore[misc]
    assert user.pk == custom_user.pk
    assert type(user.pk) is type(custom_user.pk)

    with django_assert_max_num_queries(0 if mode == "database" else 1):
        values = {field.attname: getattr(user, field.attname) for field in _concrete_fields()}
    assert values == {
        field.attname: getattr(custom_user, field.attname) for field in _concrete_fields()
    }


def test_a_password_change_revokes_the_families_and_their_access_tokens(
    client: Client, custom_user: Any, committed: Any
) -> None:
    tokens = _login(client, committed)

    with committed():
        custom_user.set_password("a brand new password")
        custom_user.save()

    family = RefreshTokenFamily.objects.get(user=custom_user)
    assert family.revoked_at is not None
    assert family.revocation_reason == RevocationReason.PASSWORD_CHANGED
    refused = _refresh(client, tokens["refresh_token"])
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"] == "invalid_grant"
    assert client.get("/api/me/", **bearer(tokens["access_token"])).status_code == 401


def test_deleting_the_user_deletes_their_families(
    client: Client, custom_user: Any, committed: Any
) -> None:
    _login(client, committed)

    custom_user.delete()

    assert not RefreshTokenFamily.objects.exists()


@has_staff
def test_the_admin_lists_and_finds_the_users_families(
    client: Client, custom_user: Any, committed: Any
) -> None:
    _login(client, committed)
    service.issue_tokens(user=create_user("bob@example.net"))
    model = get_user_model()
    staff = model.objects.create_superuser(
        **{model.USERNAME_FIELD: "admin@example.org", "password": "an admin's password"}
    )
    client.force_login(staff)

    listed = client.get(CHANGELIST)
    found = client.get(CHANGELIST, {"q": "alice@"})

    assert listed.status_code == 200, listed.content
    assert listed.context["cl"].result_count == 2
    assert found.status_code == 200, found.content
    [family] = found.context["cl"].result_list
    assert family.user == custom_user
    assert family.public_id in found.content.decode()
