"""The ``tokenauth_revoke`` command, through ``call_command`` (the purge: test_purge.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.conftest import post_json
from tests.factories import UserFactory
from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=dt_timezone.utc)  # far from the real clock on purpose
IDLE = timedelta(days=7)  # the defaults of DESIGN §1, set explicitly below
ABSOLUTE = timedelta(days=30)


@pytest.fixture(autouse=True)
def _lifetimes(tokenauth_settings: Any) -> None:
    tokenauth_settings(REFRESH_TOKEN_IDLE_LIFETIME=IDLE, REFRESH_TOKEN_ABSOLUTE_LIFETIME=ABSOLUTE)


def _run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _issue(user: Any, now: datetime = T0) -> service.IssuedTokens:
    return service.issue_tokens(user=user, now=now)


def _row(tokens: service.IssuedTokens) -> RefreshTokenFamily | None:
    return RefreshTokenFamily.objects.filter(public_id=tokens.family_public_id).first()


def _exists(tokens: service.IssuedTokens) -> bool:
    return _row(tokens) is not None


def _revoke(tokens: service.IssuedTokens, now: datetime) -> None:
    assert service.revoke_family(
        family_public_id=tokens.family_public_id, reason=RevocationReason.LOGOUT, now=now
    )


# --- tokenauth_revoke ---------------------------------------------------------------------


def test_revoke_user_revokes_all_their_live_families(user: Any) -> None:
    live = [_issue(user) for _ in range(3)]
    earlier = _issue(user)
    _revoke(earlier, T0)
    stranger = _issue(UserFactory())

    out = _run("tokenauth_revoke", "--user", user.username)

    assert "Revoked 3 families." in out
    for tokens in live:
        row = _row(tokens)
        assert row is not None
        assert row.revoked_at is not None
        assert row.revocation_reason == RevocationReason.COMMAND
    earlier_row = _row(earlier)
    assert earlier_row is not None
    assert earlier_row.revocation_reason == RevocationReason.LOGOUT  # not overwritten
    assert earlier_row.revoked_at == T0
    stranger_row = _row(stranger)
    assert stranger_row is not None
    assert stranger_row.revoked_at is None


def test_revoke_user_stops_access_and_refresh_tokens(user: Any, client: Client) -> None:
    tokens = service.issue_tokens(user=user)
    assert (
        client.get("/api/whoami/", HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}").status_code
        == 200
    )

    _run("tokenauth_revoke", "--user", user.username)

    assert (
        client.get("/api/whoami/", HTTP_AUTHORIZATION=f"Bearer {tokens.access_token}").status_code
        == 401
    )
    response = post_json(client, "/auth/refresh/", {"refresh_token": tokens.refresh_token})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_revoke_user_finds_a_user_the_default_manager_hides(user: Any, hidden_users: None) -> None:
    live = _issue(user)

    out = _run("tokenauth_revoke", "--user", user.username)

    assert "Revoked 1 family." in out
    row = _row(live)
    assert row is not None and row.revocation_reason == RevocationReason.COMMAND


def test_revoke_user_with_no_live_family_prints_zero(user: Any) -> None:
    assert "Revoked 0 families." in _run("tokenauth_revoke", "--user", user.username)


def test_revoke_unknown_user_raises_command_error(user: Any) -> None:
    tokens = _issue(user)
    with pytest.raises(CommandError):
        _run("tokenauth_revoke", "--user", "nobody-by-this-name")
    row = _row(tokens)
    assert row is not None
    assert row.revoked_at is None


def test_revoke_families_revokes_only_those(user: Any) -> None:
    first, second, untouched = _issue(user), _issue(user), _issue(user)
    stranger = _issue(UserFactory())

    out = _run("tokenauth_revoke", "--family", first.family_public_id, stranger.family_public_id)

    assert "Revoked 2 families." in out
    for tokens in (first, stranger):
        row = _row(tokens)
        assert row is not None
        assert row.revocation_reason == RevocationReason.COMMAND
        assert row.revoked_at is not None
    for tokens in (second, untouched):
        row = _row(tokens)
        assert row is not None
        assert row.revoked_at is None


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "A" * 22,  # shaped like a public id, but no such family
        "x" * 10_000,
        "abc\x00def",
        "' OR 1=1 --",
        "%",
    ],
)
def test_revoke_garbage_family_ids_revokes_nothing(user: Any, garbage: str) -> None:
    families = [_issue(user), _issue(UserFactory())]

    out = _run("tokenauth_revoke", "--family", garbage)

    assert "Revoked 0 families." in out
    assert RefreshTokenFamily.objects.filter(revoked_at__isnull=False).count() == 0
    assert all(_exists(tokens) for tokens in families)


def test_revoke_garbage_next_to_a_real_id_revokes_only_the_real_one(user: Any) -> None:
    real, other = _issue(user), _issue(user)
    out = _run("tokenauth_revoke", "--family", "garbage\x00", real.family_public_id, "B" * 22)
    assert "Revoked 1 family." in out
    assert list(
        RefreshTokenFamily.objects.filter(revoked_at__isnull=False).values_list(
            "public_id", flat=True
        )
    ) == [real.family_public_id]
    row = _row(other)
    assert row is not None
    assert row.revoked_at is None
