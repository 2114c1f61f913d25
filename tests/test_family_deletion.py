"""Deleting a live family ends its access tokens in ``cache`` mode too (the purge, which writes
no marker: test_purge.py).

In ``database`` mode a deleted family's access tokens are refused by the join; in ``cache``
mode only a revocation marker can refuse them, so deleting a family one by one (the admin,
a user's deletion, ``family.delete()``) writes one on commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from tests.conftest import requires_redis
from tests.factories import UserFactory
from tokenauth import _revocation_cache, service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db

WHOAMI = "/api/whoami/"  # reads only pk: in cache mode nothing but the marker can refuse


@pytest.fixture(params=["default", pytest.param("redis", marks=requires_redis)])
def cache_mode(request: pytest.FixtureRequest, tokenauth_settings: Callable[..., None]) -> str:
    """LocMem, and real Redis when REDIS_URL is set."""
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="cache", CACHE_ALIAS=request.param)
    return str(request.param)


@pytest.fixture
def staff_client(db: None) -> Client:
    staff = Client()
    staff.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return staff


def whoami(client: Client, tokens: service.IssuedTokens) -> int:
    return client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}").status_code


def row(tokens: service.IssuedTokens) -> RefreshTokenFamily:
    return RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)


def _delete_the_family(tokens: service.IssuedTokens, staff: Client) -> None:
    row(tokens).delete()


def _delete_the_user(tokens: service.IssuedTokens, staff: Client) -> None:
    row(tokens).user.delete()


def _admin_deletes_the_family(tokens: service.IssuedTokens, staff: Client) -> None:
    url = f"/admin/tokenauth/refreshtokenfamily/{row(tokens).pk}/delete/"
    assert staff.post(url, {"post": "yes"}).status_code == 302


def _admin_deletes_the_user(tokens: service.IssuedTokens, staff: Client) -> None:
    url = f"/admin/auth/user/{row(tokens).user_id}/delete/"
    assert staff.post(url, {"post": "yes"}).status_code == 302


DELETIONS = [
    pytest.param(_delete_the_family, id="family.delete"),
    pytest.param(_delete_the_user, id="user.delete"),
    pytest.param(_admin_deletes_the_family, id="admin-family"),
    pytest.param(_admin_deletes_the_user, id="admin-user"),
]


@pytest.mark.usefixtures("cache_mode")
@pytest.mark.parametrize("delete", DELETIONS)
def test_deleting_a_live_family_refuses_its_access_token_in_cache_mode(
    client: Client,
    user: Any,
    staff_client: Client,
    django_capture_on_commit_callbacks: Any,
    delete: Callable[[service.IssuedTokens, Client], None],
) -> None:
    tokens = service.issue_tokens(user=user)
    bystander = service.issue_tokens(user=UserFactory())
    assert whoami(client, tokens) == 200

    with django_capture_on_commit_callbacks(execute=True):
        delete(tokens, staff_client)

    assert not RefreshTokenFamily.objects.filter(public_id=tokens.family_public_id).exists()
    assert whoami(client, tokens) == 401
    assert whoami(client, bystander) == 200


@pytest.mark.usefixtures("cache_mode")
def test_the_marker_waits_for_the_commit_and_a_rollback_writes_none(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    kept, rolled_back = service.issue_tokens(user=user), service.issue_tokens(user=user)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            row(rolled_back).delete()
            raise RuntimeError("the deletion is rolled back")
        row(kept).delete()
    assert not _revocation_cache.is_revoked(kept.family_public_id)  # not before commit
    for callback in callbacks:
        callback()

    assert _revocation_cache.is_revoked(kept.family_public_id)
    assert RefreshTokenFamily.objects.filter(public_id=rolled_back.family_public_id).exists()
    assert not _revocation_cache.is_revoked(rolled_back.family_public_id)


@pytest.mark.usefixtures("cache_mode")
def test_deleting_a_revoked_family_writes_no_marker(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Its markers were written when it was revoked (and have expired if that was long ago)."""
    tokens = service.issue_tokens(user=user)
    service.revoke_family(family_public_id=tokens.family_public_id, reason=RevocationReason.LOGOUT)
    family = row(tokens)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        family.delete()

    assert callbacks == []
