"""The state changes of a family below ``service``: classify a token's generation, rotate by
compare-and-set, grace, reuse, revoke (``tokenauth._rotation`` and ``tokenauth._revocation``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from tests.conftest import IP, UA
from tokenauth import _revocation, service
from tokenauth.models import RefreshTokenFamily, RevocationReason


def test_revoking_the_same_family_twice_signals_once(
    user: Any, revoked_events: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    tokens = service.login(user=user, ip=IP, user_agent=UA)
    family = RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)
    rows = [(family.pk, family.public_id, family.user_id)]
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = _revocation.revoke_rows(rows, RevocationReason.ADMIN, now)
        second = _revocation.revoke_rows(rows, RevocationReason.ADMIN, now)

    assert (first, second) == (1, 0)
    assert revoked_events == [
        {
            "user_id": user.pk,
            "family_public_id": family.public_id,
            "reason": RevocationReason.ADMIN,
        }
    ]
