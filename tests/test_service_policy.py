"""Policy lives behind ``tokenauth.service`` (DESIGN §6): code that calls the service directly
(SSO, sign-up, a command) gets the rules HTTP gets."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from tests.conftest import UA
from tokenauth import service
from tokenauth.access import decode_access_token
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db


# --- user_for_claims: the revocation mode, the cache check and CACHE_FAILURE ----------------


def _claims(tokens: service.IssuedTokens) -> Any:
    return decode_access_token(tokens.access_token)


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


# --- login_with_password: the throttle, the cache probe, is_active ---------------------------


def _password_login(user: Any, answer: Any, calls: list[str], ip: str = "198.51.100.7") -> Any:
    def authenticate() -> Any:
        calls.append("hash")
        return answer

    return service.login_with_password(
        username=user.username, authenticate=authenticate, ip=ip, user_agent=UA
    )


@pytest.mark.parametrize("answer", ["none", "inactive"])
def test_login_with_password_counts_any_backends_refusals_then_throttles(
    user: Any, tokenauth_settings: Any, answer: str
) -> None:
    tokenauth_settings(LOGIN_THROTTLE_RATE="2/min")
    if answer == "inactive":
        user.is_active = False
        user.save()
    calls: list[str] = []
    for _ in range(2):
        with pytest.raises(service.InvalidCredentials):
            _password_login(user, None if answer == "none" else user, calls)

    with pytest.raises(service.LoginThrottled) as excinfo:
        _password_login(user, user, calls)

    assert excinfo.value.retry_after > 0
    assert calls == ["hash", "hash"]  # the throttled attempt never reached the hash
    assert not RefreshTokenFamily.objects.exists()


def test_login_with_password_starts_a_family_for_the_authenticated_user(
    user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(LOGIN_THROTTLE_RATE="2/min")
    calls: list[str] = []

    tokens = _password_login(user, user, calls)

    assert calls == ["hash"]
    assert RefreshTokenFamily.objects.get().public_id == tokens.family_public_id


@pytest.mark.parametrize("answer", ["none", "inactive", "active"])
def test_login_with_password_keeps_a_failures_place_and_gives_a_successes_back(
    user: Any, tokenauth_settings: Any, answer: str
) -> None:
    # Past 10 x N failures for the username across networks, a network that failed for it is
    # refused: only the failures that stayed counted can get there.
    tokenauth_settings(LOGIN_THROTTLE_RATE="2/min")
    if answer == "inactive":
        user.is_active = False
        user.save()
    result = None if answer == "none" else user
    calls: list[str] = []
    for n in range(21):
        with contextlib.suppress(service.InvalidCredentials):
            _password_login(user, result, calls, ip=f"198.51.100.{n + 1}")

    if answer == "active":
        _password_login(user, user, calls, ip="198.51.100.1")
    else:
        with pytest.raises(service.LoginThrottled):
            _password_login(user, result, calls, ip="198.51.100.1")
