"""Revoked-family markers in the cache (``tokenauth._revocation_cache``, ``cache`` mode): written
after commit and never for a revocation that rolled back, alive for as long as an access token
of the family can be (its lifetime plus ``LEEWAY``). What an unreachable cache means is
tests/test_cache_outage.py's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import caches
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.conftest import IP, UA, assert_invalid_token, post_json, requires_redis
from tests.factories import UserFactory
from tokenauth import _revocation_cache, service
from tokenauth.access import decode_access_token
from tokenauth.models import RevocationReason
from tokenauth.service import IssuedTokens

WHOAMI = "/api/whoami/"


def _login(user: Any) -> IssuedTokens:
    return service.login(user=user, ip=IP, user_agent=UA)


def _get(client: Client, path: str, access_token: str) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {access_token}")


def _sid(access_token: str) -> str:
    return decode_access_token(access_token).family_public_id


@pytest.fixture(params=["default", pytest.param("redis", marks=requires_redis)])
def cache_mode(tokenauth_settings: Any, request: pytest.FixtureRequest) -> str:
    """Cache mode on the LocMem default cache, and on real Redis when REDIS_URL is set."""
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="cache", CACHE_ALIAS=request.param)
    return str(request.param)


@pytest.fixture
def sessions(user: Any) -> tuple[IssuedTokens, IssuedTokens, IssuedTokens]:
    """Two of the user's families and one of a stranger's."""
    return _login(user), _login(user), _login(UserFactory())


@pytest.fixture
def locmem_cache_mode(tokenauth_settings: Callable[..., None]) -> Iterator[None]:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="cache")
    caches["default"].clear()
    yield
    caches["default"].clear()


# --- written after commit, never for a rollback -------------------------------------------


@pytest.mark.usefixtures("locmem_cache_mode")
@pytest.mark.parametrize("change", ["password", "deactivate"])
def test_cache_mode_writes_revocation_markers_on_commit(
    user: Any,
    sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens],
    django_capture_on_commit_callbacks: Any,
    change: str,
) -> None:
    mine_a, mine_b, stranger = sessions

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        if change == "password":
            user.set_password("a brand new password")
        else:
            user.is_active = False
        user.save()
    assert not _revocation_cache.is_revoked(mine_a.family_public_id)  # not before commit
    for callback in callbacks:
        callback()

    assert _revocation_cache.is_revoked(mine_a.family_public_id)
    assert _revocation_cache.is_revoked(mine_b.family_public_id)
    assert not _revocation_cache.is_revoked(stranger.family_public_id)


def test_cache_mode_ignores_a_revocation_that_rolled_back(
    cache_mode: str, client: Client, user: Any, login: Any
) -> None:
    tokens = login(user)

    with transaction.atomic():
        revoked = service.revoke_family(
            family_public_id=_sid(tokens["access_token"]), reason=RevocationReason.ADMIN
        )
        transaction.set_rollback(True)

    assert revoked
    assert _get(client, WHOAMI, tokens["access_token"]).status_code == 200


# --- lifetime -----------------------------------------------------------------------------


@pytest.mark.usefixtures("locmem_cache_mode")
def test_cache_markers_live_as_long_as_an_access_token(
    user: Any,
    sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens],
    committed: Callable[[], Any],
) -> None:
    mine_a, _, _ = sessions
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        with committed():
            user.set_password("a brand new password")
            user.save()
        traveller.shift(timedelta(minutes=14))
        assert _revocation_cache.is_revoked(mine_a.family_public_id)


def test_cache_mode_marker_outlives_the_token_by_the_leeway(
    tokenauth_settings: Any, client: Client, user: Any, login: Any, committed: Any
) -> None:
    # LocMem only: its clock is the one time-machine moves.
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="cache", LEEWAY=timedelta(minutes=2))
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        tokens = login(user)
        with committed():
            post_json(client, "/auth/logout/", {"refresh_token": tokens["refresh_token"]})

    late = start + timedelta(minutes=15) + timedelta(seconds=90)  # expired, within the leeway
    with time_machine.travel(late, tick=False):
        assert_invalid_token(_get(client, WHOAMI, tokens["access_token"]))
