"""The state changes of a family below ``service``: classify a token's generation, rotate by
compare-and-set, grace, reuse, revoke (``tokenauth._family``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import IP, UA
from tokenauth import _refresh_tokens, service
from tokenauth._client_info import Client
from tokenauth._family import Refusal, revoke_rows, rotate
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.service import IssuedTokens


def _login(user: Any, now: datetime) -> IssuedTokens:
    return service.login(user=user, ip=IP, user_agent=UA, now=now)


def _refresh(refresh_token: str, now: datetime) -> IssuedTokens:
    return service.refresh(refresh_token=refresh_token, ip=IP, user_agent=UA, now=now)


def _family(tokens: IssuedTokens) -> RefreshTokenFamily:
    return RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)


# --- rotation: a compare-and-set that loses re-reads the family ---------------------------


def test_a_rotation_that_loses_its_compare_and_set_reads_the_family_again(user: Any) -> None:
    """Fed a family read before another rotation committed, the compare-and-set changes no
    row; the re-read must see that rotation and answer with its successor (grace)."""
    now = timezone.now() - timedelta(minutes=2)
    first = _login(user, now)
    parsed = _refresh_tokens.parse(first.refresh_token)
    assert parsed is not None
    stale = RefreshTokenFamily.objects.select_related("user").get(pk=_family(first).pk)
    second = _refresh(first.refresh_token, now + timedelta(seconds=1))

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        outcome = rotate(stale, parsed.generation, Client(IP, UA), now + timedelta(seconds=2))

    assert isinstance(outcome, IssuedTokens), outcome
    assert outcome.refresh_token == second.refresh_token
    # The UPDATE that changed nothing and the locked re-read; the user is the one read before.
    assert len(queries.captured_queries) == 2, queries.captured_queries
    assert _family(first).generation == 1


def test_a_rotation_that_loses_to_a_logout_sees_the_revocation(user: Any) -> None:
    now = timezone.now() - timedelta(minutes=2)
    first = _login(user, now)
    parsed = _refresh_tokens.parse(first.refresh_token)
    assert parsed is not None
    stale = _family(first)
    service.logout(refresh_token=first.refresh_token, ip=IP, user_agent=UA, now=now)

    with transaction.atomic():
        outcome = rotate(stale, parsed.generation, Client(IP, UA), now + timedelta(seconds=1))

    assert outcome is Refusal.REVOKED
    assert _family(first).revocation_reason == RevocationReason.LOGOUT


# --- revocation ---------------------------------------------------------------------------


def test_revoking_the_same_family_twice_signals_once(
    user: Any, revoked_events: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    tokens = service.login(user=user, ip=IP, user_agent=UA)
    family = RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)
    rows = [(family.pk, family.public_id, family.user_id)]
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = revoke_rows(rows, RevocationReason.ADMIN, now)
        second = revoke_rows(rows, RevocationReason.ADMIN, now)

    assert (first, second) == (1, 0)
    assert revoked_events == [
        {
            "user_id": user.pk,
            "family_public_id": family.public_id,
            "reason": RevocationReason.ADMIN,
        }
    ]
