"""Revoke families in one UPDATE each; cache markers and signals follow the commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import connections
from django.db.models import QuerySet
from django.dispatch import Signal

from tokenauth import _db, _revocation_cache, signals
from tokenauth._client_info import clean_ip, clean_user_agent
from tokenauth.models import RefreshTokenFamily, RevocationReason

logger = logging.getLogger(__name__)

Row = tuple[int, str, object]  # pk, public_id, user_id


def live(**filters: object) -> QuerySet[RefreshTokenFamily]:
    return _db.families().filter(revoked_at__isnull=True, **filters)


def revoke_matching(
    families: QuerySet[RefreshTokenFamily], reason: RevocationReason, now: datetime
) -> int:
    """Revoke the live families in ``families``; call inside ``atomic``."""
    rows = list(lock(families).values_list("pk", "public_id", "user_id"))
    return revoke_rows(rows, reason, now)


def revoke_rows(
    rows: Sequence[tuple[int, str, object]], reason: RevocationReason, now: datetime
) -> int:
    """One UPDATE for all rows; signals and cache markers after commit."""
    if not rows:
        return 0
    count = live(pk__in=[pk for pk, _, _ in rows]).update(revoked_at=now, revocation_reason=reason)
    if not count:
        return 0  # revoked meanwhile by someone else, who signals
    _announce(rows, reason)
    public_ids = ", ".join(public_id for _, public_id, _ in rows)
    logger.info("tokenauth: revoked %d families (%s): %s", count, reason, public_ids)
    return count


def _announce(rows: Sequence[tuple[int, str, object]], reason: RevocationReason) -> None:
    """After commit: cache markers (cache mode) and one ``family_revoked`` per family."""
    public_ids = tuple(public_id for _, public_id, _ in rows)
    _db.on_commit(lambda: _revocation_cache.mark_revoked(public_ids))
    for _, public_id, user_id in rows:
        send_on_commit(
            signals.family_revoked, user_id=user_id, family_public_id=public_id, reason=reason
        )


def row_of(family: RefreshTokenFamily) -> list[tuple[int, str, object]]:
    return [(family.pk, family.public_id, family.user_id)]


def lock(families: QuerySet[RefreshTokenFamily]) -> QuerySet[RefreshTokenFamily]:
    features = connections[_db.write_alias()].features
    return families.select_for_update() if features.has_select_for_update else families


def revoke_for_reuse(
    family: RefreshTokenFamily, ip: str | None, user_agent: str, now: datetime
) -> None:
    """Revoke the family for reuse in one UPDATE; only the request that changed the row signals."""
    changed = live(pk=family.pk).update(
        revoked_at=now,
        revocation_reason=RevocationReason.REUSE_DETECTED,
        reuse_detected_at=now,
        reuse_ip_address=clean_ip(ip),
        reuse_user_agent=clean_user_agent(user_agent),
    )
    if not changed:
        return
    logger.warning(
        "tokenauth: refresh token reuse in family %s of user %s from %s, agent %r",
        family.public_id,
        family.user_id,
        clean_ip(ip),
        user_agent[:255],
    )
    _announce(row_of(family), RevocationReason.REUSE_DETECTED)
    send_on_commit(
        signals.refresh_token_reused,
        user_id=family.user_id,
        family_public_id=family.public_id,
        ip=clean_ip(ip),
        user_agent=clean_user_agent(user_agent),
    )


def send_on_commit(signal: Signal, **kwargs: object) -> None:
    # send_robust: a failing receiver is logged by Django and never undoes what committed.
    _db.on_commit(lambda: signal.send_robust(sender=RefreshTokenFamily, **kwargs))
