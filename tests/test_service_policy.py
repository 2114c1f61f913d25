"""Policy lives behind ``tokenauth.service`` (DESIGN §6): code that calls the service directly
(SSO, sign-up, a command) gets the rules HTTP gets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.signals import user_logged_in

from tests.conftest import UNREACHABLE_REDIS
from tokenauth import service
from tokenauth.access import decode_access_token
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db

IP = "203.0.113.10"
UA = "pytest"


@pytest.fixture
def cache_down(settings: Any, tokenauth_settings: Any) -> Callable[..., None]:
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS}
    return lambda **values: tokenauth_settings(CACHE_ALIAS="unreachable", **values)


CLOSED = {"ACCESS_TOKEN_REVOCATION": "cache", "CACHE_FAILURE": "closed"}


def test_refresh_in_cache_mode_closed_with_the_cache_down_spends_nothing(
    user: Any, cache_down: Callable[..., None]
) -> None:
    tokens = service.login(user=user, ip=IP, user_agent=UA)
    cache_down(**CLOSED)

    with pytest.raises(service.TemporarilyUnavailable):
        service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)

    assert RefreshTokenFamily.objects.get().generation == 0  # the token is still good


def test_issue_tokens_in_cache_mode_closed_with_the_cache_down_starts_no_family(
    user: Any, cache_down: Callable[..., None]
) -> None:
    cache_down(**CLOSED)

    with pytest.raises(service.TemporarilyUnavailable):
        service.issue_tokens(user=user, ip=IP, user_agent=UA)

    assert not RefreshTokenFamily.objects.exists()


def test_login_in_cache_mode_closed_with_the_cache_down_sends_no_user_logged_in(
    user: Any, cache_down: Callable[..., None]
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
    user: Any, cache_down: Callable[..., None], values: dict[str, str]
) -> None:
    cache_down(**values)

    tokens = service.issue_tokens(user=user, ip=IP, user_agent=UA)
    service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)

    assert RefreshTokenFamily.objects.get().generation == 1


# --- user_for_claims: the revocation mode, the cache check and CACHE_FAILURE ----------------


def _claims(tokens: service.IssuedTokens) -> Any:
    return decode_access_token(tokens.access_token)


def test_user_for_claims_in_cache_mode_closed_with_the_cache_down_is_unverifiable(
    user: Any, cache_down: Callable[..., None]
) -> None:
    claims = _claims(service.issue_tokens(user=user))
    cache_down(**CLOSED)

    with pytest.raises(service.AccessTokenRefused) as excinfo:
        service.user_for_claims(claims=claims)

    assert excinfo.value.reason == "unverifiable"


def test_user_for_claims_in_cache_mode_open_with_the_cache_down_lets_the_token_in(
    user: Any, cache_down: Callable[..., None], django_assert_num_queries: Any
) -> None:
    claims = _claims(service.issue_tokens(user=user))
    cache_down(ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE="open")

    with django_assert_num_queries(0):
        found = service.user_for_claims(claims=claims)

    assert found.user is None and found.user_pk == user.pk
    assert service.load_user(user_pk=found.user_pk, password_version=None) == user


@pytest.mark.parametrize("mode", ["database", "cache"])
def test_user_for_claims_refuses_a_revoked_family(
    user: Any, tokenauth_settings: Any, mode: str, django_capture_on_commit_callbacks: Any
) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    tokens = service.issue_tokens(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        service.revoke_user(user=user, reason=RevocationReason.LOGOUT_ALL)

    with pytest.raises(service.AccessTokenRefused) as excinfo:
        service.user_for_claims(claims=_claims(tokens))

    assert excinfo.value.reason == "revoked"


def test_user_for_claims_in_database_mode_loads_the_user_in_one_query(
    user: Any, tokenauth_settings: Any, django_assert_num_queries: Any
) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="database")
    claims = _claims(service.issue_tokens(user=user))

    with django_assert_num_queries(1):
        found = service.user_for_claims(claims=claims)

    assert found.user == user


def test_load_user_refuses_a_changed_password(user: Any) -> None:
    claims = _claims(service.issue_tokens(user=user))
    user.set_password("a new password entirely")
    user.save()

    with pytest.raises(service.AccessTokenRefused) as excinfo:
        service.load_user(user_pk=user.pk, password_version=claims.password_version)

    assert excinfo.value.reason == "password_changed"
