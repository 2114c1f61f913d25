"""``AccessTokenAuthentication`` over real HTTP, in each ``ACCESS_TOKEN_REVOCATION`` mode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.test import Client, RequestFactory
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.request import Request

from tests.conftest import assert_invalid_token, bearer, post_json, requires_redis
from tests.factories import UserFactory
from tokenauth._fingerprints import password_version
from tokenauth.access import decode_access_token, encode_access_token
from tokenauth.authentication import AccessTokenAuthentication
from tokenauth.testing import access_token_for

ME, WHOAMI = "/api/me/", "/api/whoami/"


def _get(client: Client, path: str, access_token: str, scheme: str = "Bearer") -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"{scheme} {access_token}")


def _sid(access_token: str) -> str:
    return decode_access_token(access_token).family_public_id


@pytest.fixture
def database_mode(tokenauth_settings: Any) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="database")


@pytest.fixture(params=["default", pytest.param("redis", marks=requires_redis)])
def cache_mode(tokenauth_settings: Any, request: pytest.FixtureRequest) -> str:
    """Cache mode on the LocMem default cache, and on real Redis when REDIS_URL is set."""
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="cache", CACHE_ALIAS=request.param)
    return str(request.param)


@pytest.fixture
def none_mode(tokenauth_settings: Any) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="none")


# --- database mode ------------------------------------------------------------------------


def test_database_mode_is_the_default(client: Client, user: Any, login: Any) -> None:
    tokens = login(user)
    user_model = get_user_model()
    user_model.objects.filter(pk=user.pk).update(is_active=False)  # only the database sees it

    assert_invalid_token(_get(client, WHOAMI, tokens["access_token"]))


@pytest.mark.parametrize("path", [ME, WHOAMI])
def test_database_mode_costs_exactly_one_query(
    database_mode: None,
    client: Client,
    user: Any,
    login: Any,
    django_assert_num_queries: Any,
    path: str,
) -> None:
    tokens = login(user)

    with django_assert_num_queries(1):
        response = _get(client, path, tokens["access_token"])

    assert response.status_code == 200, response.content
    assert response.json()["id"] == user.pk


def test_database_mode_gives_the_real_user(
    database_mode: None, client: Client, user: Any, login: Any
) -> None:
    response = _get(client, ME, login(user)["access_token"])

    assert response.json() == {"id": user.pk, "username": user.username}


def test_database_mode_refuses_a_logged_out_family_only(
    database_mode: None, client: Client, user: Any, login: Any
) -> None:
    first, second = login(user), login(user)

    response = post_json(client, "/auth/logout/", {"refresh_token": first["refresh_token"]})
    assert response.status_code == 204

    assert_invalid_token(_get(client, ME, first["access_token"]))
    assert _get(client, ME, second["access_token"]).status_code == 200


def test_database_mode_refuses_after_logout_everywhere(
    database_mode: None, client: Client, user: Any, login: Any
) -> None:
    first, second = login(user), login(user)

    response = client.post(
        "/auth/logout-all/", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}"
    )
    assert response.status_code == 204

    assert_invalid_token(_get(client, ME, first["access_token"]))
    assert_invalid_token(_get(client, ME, second["access_token"]))


@pytest.mark.parametrize("how", ["save", "update"])
def test_database_mode_refuses_an_inactive_user(
    database_mode: None, client: Client, user: Any, login: Any, how: str
) -> None:
    tokens = login(user)

    if how == "save":
        user.is_active = False
        user.save()
    else:  # QuerySet.update() sends no signal
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)

    assert_invalid_token(_get(client, ME, tokens["access_token"]))
    assert_invalid_token(_get(client, WHOAMI, tokens["access_token"]))


@pytest.mark.parametrize("how", ["save", "update"])
def test_database_mode_refuses_after_a_password_change(
    database_mode: None, client: Client, user: Any, login: Any, how: str
) -> None:
    tokens = login(user)

    if how == "save":
        user.set_password("a brand new password")
        user.save()
    else:  # QuerySet.update() sends no signal: the fingerprint still catches it
        get_user_model().objects.filter(pk=user.pk).update(
            password=make_password("a brand new password")
        )

    assert_invalid_token(_get(client, ME, tokens["access_token"]))


def test_database_mode_keeps_tokens_through_unrelated_saves(
    database_mode: None, client: Client, user: Any, login: Any
) -> None:
    tokens = login(user)

    user.first_name = "Ada"
    user.save()
    user.email = "ada@example.com"
    user.save(update_fields=["email"])

    assert _get(client, ME, tokens["access_token"]).status_code == 200


def test_database_mode_refuses_a_deleted_user(
    database_mode: None, client: Client, user: Any, login: Any
) -> None:
    tokens = login(user)

    user.delete()

    assert_invalid_token(_get(client, ME, tokens["access_token"]))


def test_database_mode_refuses_a_token_naming_another_users_family(
    database_mode: None, client: Client, user: Any, login: Any
) -> None:
    other = UserFactory()
    sid = _sid(login(user)["access_token"])
    now = timezone.now()
    access_token = encode_access_token(
        user_id=str(other.pk),
        family_public_id=sid,
        password_version=password_version(other.password),
        now=now,
        expires_at=now + timedelta(minutes=5),
    )

    assert_invalid_token(_get(client, ME, access_token))


def test_database_mode_refuses_an_unknown_family(
    database_mode: None, client: Client, user: Any
) -> None:
    now = timezone.now()
    access_token = encode_access_token(
        user_id=str(user.pk),
        family_public_id="never-issued-family-id",
        password_version=password_version(user.password),
        now=now,
        expires_at=now + timedelta(minutes=5),
    )

    assert_invalid_token(_get(client, ME, access_token))


# --- cache mode ---------------------------------------------------------------------------


def test_cache_mode_costs_no_query_for_the_free_attributes(
    cache_mode: str, client: Client, user: Any, login: Any, django_assert_num_queries: Any
) -> None:
    tokens = login(user)

    with django_assert_num_queries(0):
        response = _get(client, WHOAMI, tokens["access_token"])

    assert response.status_code == 200, response.content
    assert response.json() == {"id": user.pk, "authenticated": True}


def test_cache_mode_loads_the_user_once_when_the_view_needs_it(
    cache_mode: str, client: Client, user: Any, login: Any, django_assert_num_queries: Any
) -> None:
    tokens = login(user)

    with django_assert_num_queries(1):
        response = _get(client, ME, tokens["access_token"])

    assert response.status_code == 200, response.content
    assert response.json() == {"id": user.pk, "username": user.username}


@pytest.mark.parametrize("mode", ["database", "cache", "none"])
def test_every_mode_sees_the_user_past_a_default_manager_that_hides_it(
    mode: str, client: Client, user: Any, login: Any, tokenauth_settings: Any, request: Any
) -> None:
    """One rule in every mode: the user model's base manager (database mode's join ignores
    managers; the lazy user must not answer differently)."""
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    tokens = login(user)
    request.getfixturevalue("hidden_users")

    response = _get(client, ME, tokens["access_token"])

    assert response.status_code == 200, response.content
    assert response.json() == {"id": user.pk, "username": user.username}


def test_lazy_user_pk_and_id_are_typed_by_the_pk_field(
    cache_mode: str, user: Any, django_assert_num_queries: Any
) -> None:
    access_token = access_token_for(user)
    request = Request(RequestFactory().get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {access_token}"))

    with django_assert_num_queries(0):
        lazy_user, claims = AccessTokenAuthentication().authenticate(request)  # type: ignore[misc]
        assert lazy_user.pk == user.pk
        assert type(lazy_user.pk) is type(user.pk)
        assert lazy_user.id == user.pk
        assert type(lazy_user.id) is type(user.pk)
        assert lazy_user.is_authenticated is True
        assert lazy_user.is_anonymous is False
        assert claims.user_id == str(user.pk)

    with django_assert_num_queries(1):
        assert lazy_user.username == user.username
        assert lazy_user.get_username() == user.username
        assert lazy_user.email == user.email


def test_cache_mode_refuses_a_revoked_family_once_the_revocation_committed(
    cache_mode: str,
    client: Client,
    user: Any,
    login: Any,
    committed: Any,
    django_assert_num_queries: Any,
) -> None:
    first, second = login(user), login(user)

    with committed():
        response = post_json(client, "/auth/logout/", {"refresh_token": first["refresh_token"]})
    assert response.status_code == 204

    with django_assert_num_queries(0):
        assert_invalid_token(_get(client, WHOAMI, first["access_token"]))
    assert _get(client, WHOAMI, second["access_token"]).status_code == 200


def test_cache_mode_refuses_every_family_after_logout_everywhere(
    cache_mode: str, client: Client, user: Any, login: Any, committed: Any
) -> None:
    first, second = login(user), login(user)

    with committed():
        response = client.post(
            "/auth/logout-all/", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}"
        )
    assert response.status_code == 204

    assert_invalid_token(_get(client, WHOAMI, first["access_token"]))
    assert_invalid_token(_get(client, WHOAMI, second["access_token"]))


@pytest.mark.parametrize("change", ["password", "deactivate"])
def test_cache_mode_refuses_at_once_after_a_password_change_or_deactivation(
    cache_mode: str, client: Client, user: Any, login: Any, committed: Any, change: str
) -> None:
    tokens = login(user)

    with committed():
        if change == "password":
            user.set_password("a brand new password")
        else:
            user.is_active = False
        user.save()

    assert_invalid_token(_get(client, WHOAMI, tokens["access_token"]))


def _lose_user(user: Any, how: str) -> None:
    """Make the token's user unloadable without any revocation marker."""
    if how == "deleted":
        user.delete()  # cascades to the families: no revocation, no marker
    else:  # QuerySet.update() sends no signal: no revocation, no marker
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)


@pytest.mark.parametrize("how", ["deleted", "deactivated_by_update"])
def test_cache_mode_user_that_cannot_be_loaded_is_a_401_not_a_500(
    cache_mode: str, client: Client, user: Any, login: Any, how: str
) -> None:
    tokens = login(user)

    _lose_user(user, how)

    response = _get(client, ME, tokens["access_token"])
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith('Bearer realm="api"')


@pytest.mark.parametrize("how", ["deleted", "deactivated_by_update"])
def test_cache_mode_user_that_cannot_be_loaded_gets_an_invalid_token_challenge(
    cache_mode: str, client: Client, user: Any, login: Any, how: str
) -> None:
    # RFC 6750 §3.1, DESIGN §3: a token that came and failed gets error="invalid_token".
    tokens = login(user)

    _lose_user(user, how)

    assert_invalid_token(_get(client, ME, tokens["access_token"]))


@pytest.mark.parametrize("mode", ["cache", "none"])
def test_lazy_user_that_no_longer_exists_is_401(
    client: Client,
    user: Any,
    login: Callable[..., dict[str, Any]],
    tokenauth_settings: Callable[..., None],
    mode: str,
) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    access_token = login(user)["access_token"]
    type(user).objects.filter(pk=user.pk).delete()

    response = client.get("/api/me/", **bearer(access_token))

    assert response.status_code == 401


def test_cache_mode_sub_that_is_not_a_pk_is_a_401_not_a_500(
    cache_mode: str, client: Client, user: Any, login: Any
) -> None:
    sid = _sid(login(user)["access_token"])
    now = timezone.now()
    access_token = encode_access_token(
        user_id="not-a-number",
        family_public_id=sid,
        password_version=password_version(user.password),
        now=now,
        expires_at=now + timedelta(minutes=5),
    )

    assert_invalid_token(_get(client, WHOAMI, access_token))
    assert_invalid_token(_get(client, ME, access_token))


def _token_with_sub(user: Any, sid: str, sub: str) -> str:
    now = timezone.now()
    return encode_access_token(
        user_id=sub,
        family_public_id=sid,
        password_version=password_version(user.password),
        now=now,
        expires_at=now + timedelta(minutes=5),
    )


@pytest.mark.parametrize(
    "sub",
    ["9223372036854775808", "-9223372036854775809", "4.2e1", "0x2a", "not-a-number"],
    ids=["above-bigint", "below-bigint", "float", "hex", "text"],
)
def test_none_mode_sub_that_no_pk_can_be_is_refused_every_time(
    none_mode: None, client: Client, user: Any, login: Any, sub: str
) -> None:
    # The pk cleaning is cached; a refusal must not be, nor leak into another sub's pk.
    access_token = login(user)["access_token"]
    bad = _token_with_sub(user, _sid(access_token), sub)

    for _ in range(2):
        assert_invalid_token(_get(client, WHOAMI, bad))
        response = _get(client, WHOAMI, access_token)
        assert response.status_code == 200, response.content
        assert response.json()["id"] == user.pk


def test_none_mode_each_sub_gets_its_own_pk(
    none_mode: None, user: Any, django_assert_num_queries: Any
) -> None:
    other = UserFactory()
    requests = [
        Request(RequestFactory().get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {access_token_for(u)}"))
        for u in (user, other, user, other)
    ]

    with django_assert_num_queries(0):
        pks = [AccessTokenAuthentication().authenticate(r)[0].pk for r in requests]  # type: ignore[index]

    assert pks == [user.pk, other.pk, user.pk, other.pk]


# --- none mode ----------------------------------------------------------------------------


def test_none_mode_costs_no_query(
    none_mode: None, client: Client, user: Any, login: Any, django_assert_num_queries: Any
) -> None:
    tokens = login(user)

    with django_assert_num_queries(0):
        response = _get(client, WHOAMI, tokens["access_token"])
    assert response.json() == {"id": user.pk, "authenticated": True}
    with django_assert_num_queries(1):
        response = _get(client, ME, tokens["access_token"])
    assert response.json() == {"id": user.pk, "username": user.username}


def test_none_mode_tokens_live_until_exp_even_after_logout(
    none_mode: None, client: Client, user: Any, login: Any, committed: Any
) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        tokens = login(user)
        with committed():
            response = post_json(
                client, "/auth/logout/", {"refresh_token": tokens["refresh_token"]}
            )
        assert response.status_code == 204

    with time_machine.travel(start + timedelta(minutes=14, seconds=59), tick=False):
        assert _get(client, WHOAMI, tokens["access_token"]).status_code == 200
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert_invalid_token(_get(client, WHOAMI, tokens["access_token"]))


# --- every mode ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["database", "cache", "none"])
def test_expired_access_token_is_refused(
    tokenauth_settings: Any, client: Client, user: Any, login: Any, mode: str
) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        tokens = login(user)

    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert_invalid_token(_get(client, ME, tokens["access_token"]))


@pytest.mark.parametrize("mode", ["database", "cache", "none"])
def test_access_token_for_works_in_every_mode(
    tokenauth_settings: Any, client: Client, user: Any, mode: str
) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)

    response = _get(client, ME, access_token_for(user))

    assert response.status_code == 200, response.content
    assert response.json() == {"id": user.pk, "username": user.username}


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr", "bEaReR"])
def test_scheme_is_case_insensitive(client: Client, user: Any, scheme: str) -> None:
    assert _get(client, ME, access_token_for(user), scheme=scheme).status_code == 200


# --- WWW-Authenticate ---------------------------------------------------------------------


@pytest.mark.django_db
def test_no_credentials_get_a_bare_bearer_challenge(client: Client) -> None:
    response = client.get(ME)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNzd29yZA==", "Token abc123", "Digest x=1"])
def test_other_schemes_are_left_to_other_classes(client: Client, header: str) -> None:
    response = client.get(ME, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer " + "x" * 65536,
        'Bearer "quoted"',
        "Bearer tkrt_AAAAAAAAAAAAAAAAAAAAAA.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer ünïcödé",
        "Bearer   ",
        "bearer x.y.z",
    ],
)
def test_bad_bearer_credentials_get_an_invalid_token_challenge(client: Client, header: str) -> None:
    assert_invalid_token(client.get(ME, HTTP_AUTHORIZATION=header))


def test_two_tokens_are_refused_even_when_both_are_valid(client: Client, user: Any) -> None:
    access_token = access_token_for(user)

    assert_invalid_token(client.get(ME, HTTP_AUTHORIZATION=f"Bearer {access_token} {access_token}"))


def test_refresh_token_is_refused_as_bearer_token(client: Client, user: Any, login: Any) -> None:
    tokens = login(user)

    assert_invalid_token(_get(client, ME, tokens["refresh_token"]))


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(header=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_authorization_header_gets_200_or_401(client: Client, user: Any, header: str) -> None:
    response = client.get(WHOAMI, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="api"')
