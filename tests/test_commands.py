"""The ``tokenauth_revoke`` and ``tokenauth_purge`` commands, through ``call_command``."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

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


def _purge(at: datetime, *args: str) -> str:
    with time_machine.travel(at, tick=False):
        return _run("tokenauth_purge", *args)


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


def _deletes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")
    ]


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
    assert "Revoked 1 families." in out
    assert list(
        RefreshTokenFamily.objects.filter(revoked_at__isnull=False).values_list(
            "public_id", flat=True
        )
    ) == [real.family_public_id]
    row = _row(other)
    assert row is not None
    assert row.revoked_at is None


# --- tokenauth_purge ----------------------------------------------------------------------


def test_purge_deletes_idle_expired_families_and_keeps_live_ones(user: Any) -> None:
    idle_expired = _issue(user, T0)
    live = _issue(user, T0 + timedelta(days=2))

    out = _purge(T0 + IDLE + timedelta(seconds=1))

    assert "Deleted 1 expired and 0 revoked families." in out
    assert not _exists(idle_expired)
    assert _exists(live)


def test_purge_deletes_at_exactly_the_idle_expiry_and_not_before(user: Any) -> None:
    # Refresh refuses a family from ``now >= idle_expires_at``: purge agrees on the boundary.
    tokens = _issue(user, T0)
    _purge(T0 + IDLE - timedelta(seconds=1))
    assert _exists(tokens)
    _purge(T0 + IDLE)
    assert not _exists(tokens)


def test_purge_deletes_a_family_refreshed_up_to_its_absolute_expiry(user: Any) -> None:
    tokens = _issue(user, T0)
    refresh_token = tokens.refresh_token
    for day in (6, 12, 18, 24, 29):  # never idle for 7 days
        refresh_token = service.refresh(
            refresh_token=refresh_token, ip=None, user_agent="", now=T0 + timedelta(days=day)
        ).refresh_token
    row = _row(tokens)
    assert row is not None
    assert row.idle_expires_at == T0 + ABSOLUTE  # capped by the absolute expiry
    fresh = _issue(user, T0 + timedelta(days=29))

    assert _purge(T0 + ABSOLUTE - timedelta(seconds=1)).startswith("Deleted 0 expired")
    assert _exists(tokens)

    out = _purge(T0 + ABSOLUTE)

    assert "Deleted 1 expired and 0 revoked families." in out
    assert not _exists(tokens)
    assert _exists(fresh)


def test_purge_deletes_a_family_past_its_absolute_expiry_whatever_its_idle_one(user: Any) -> None:
    # Rotation never pushes idle expiry past the absolute one; a row edited by hand (or by an
    # older version) must still go at its absolute expiry.
    tokens = _issue(user, T0)
    RefreshTokenFamily.objects.filter(public_id=tokens.family_public_id).update(
        idle_expires_at=T0 + ABSOLUTE + IDLE
    )

    out = _purge(T0 + ABSOLUTE + timedelta(seconds=1))

    assert "Deleted 1 expired and 0 revoked families." in out
    assert not _exists(tokens)


def test_purge_keeps_recently_revoked_families_and_deletes_old_ones(user: Any) -> None:
    recent = _issue(user, T0)
    _revoke(recent, T0 + timedelta(days=9))  # also idle-expired: the reason it is kept is evidence
    old = _issue(user, T0)
    _revoke(old, T0 + timedelta(days=1))
    live = _issue(user, T0 + timedelta(days=9))
    now = T0 + timedelta(days=10, hours=1)

    out = _purge(now, "--keep-revoked-days", "5")

    assert "Deleted 0 expired and 1 revoked families." in out
    assert _exists(recent)
    assert not _exists(old)
    assert _exists(live)

    out = _purge(now, "--keep-revoked-days", "1")

    assert "Deleted 0 expired and 1 revoked families." in out
    assert not _exists(recent)
    assert _exists(live)


def test_purge_keeps_revoked_families_seven_days_by_default(user: Any) -> None:
    recent = _issue(user, T0)
    _revoke(recent, T0 + timedelta(days=1))
    old = _issue(user, T0)
    _revoke(old, T0)

    out = _purge(T0 + timedelta(days=7, hours=12))

    assert "Deleted 0 expired and 1 revoked families." in out
    assert _exists(recent)
    assert not _exists(old)


def test_purge_works_across_several_batches(user: Any) -> None:
    expired = [_issue(UserFactory(), T0) for _ in range(5)]
    live = _issue(user, T0 + timedelta(days=5))

    with CaptureQueriesContext(connection) as queries:
        out = _purge(T0 + IDLE + timedelta(hours=1), "--batch-size", "2")

    assert "Deleted 5 expired and 0 revoked families." in out
    assert len(_deletes(queries)) == 3  # 2 + 2 + 1: the command passes --batch-size on
    assert not any(_exists(tokens) for tokens in expired)
    assert _exists(live)


def test_purge_with_nothing_to_do_prints_zero_counts(user: Any) -> None:
    _issue(user, T0)
    assert "Deleted 0 expired and 0 revoked families." in _purge(T0 + timedelta(days=1))


def test_purged_family_refresh_token_is_refused_and_nothing_else_is_revoked(
    user: Any, client: Client
) -> None:
    expired = _issue(user, T0)
    live = _issue(user, T0 + timedelta(days=5))
    now = T0 + IDLE + timedelta(hours=1)
    _purge(now)
    assert not _exists(expired)

    with time_machine.travel(now, tick=False):
        refused = post_json(client, "/auth/refresh/", {"refresh_token": expired.refresh_token})
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
        assert RefreshTokenFamily.objects.filter(revoked_at__isnull=False).count() == 0
        refreshed = post_json(client, "/auth/refresh/", {"refresh_token": live.refresh_token})
        assert refreshed.status_code == 200, refreshed.content


@pytest.mark.parametrize("batch_size", [1, 4, 5, 12, 100])
def test_purge_issues_one_delete_per_batch(user: Any, batch_size: int) -> None:
    expired_families = 12
    for _ in range(expired_families):
        _issue(user, T0)

    with (
        time_machine.travel(T0 + IDLE + timedelta(days=1), tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        result = service.purge_expired(batch_size=batch_size)

    assert result == service.PurgeResult(expired=expired_families, revoked=0)
    deletes = _deletes(queries)
    assert len(deletes) == math.ceil(expired_families / batch_size), deletes
    assert RefreshTokenFamily.objects.count() == 0


def test_purge_refuses_a_batch_size_of_zero(user: Any) -> None:
    tokens = _issue(user, T0)
    with time_machine.travel(T0 + ABSOLUTE, tick=False), pytest.raises((CommandError, SystemExit)):
        _run("tokenauth_purge", "--batch-size", "0")
    assert _exists(tokens)
