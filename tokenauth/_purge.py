"""Delete the families that can never refresh again, in primary-key-range batches.

The walk never loads a row as an object and never counts the table: each batch finds where
its range ends with one index-only read of the primary key, then deletes, in a transaction of
its own, the rows of that range that are purgeable *at that moment* (the condition is the
DELETE's own ``WHERE``, so a family refreshed since the purge began is kept). No DELETE has a
subquery (MariaDB refuses one on the table it deletes from), and each transaction holds the
locks of one range only: live traffic and a second purge run beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections
from django.db.models import Count, Max, Q, QuerySet

from tokenauth import _db
from tokenauth.models import RefreshTokenFamily

__all__ = ["PurgeBatch", "PurgeResult", "purge"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeResult:
    """How many families a purge deleted (a dry run: would delete)."""

    expired: int
    revoked: int


@dataclass(frozen=True)
class PurgeBatch:
    """One committed batch: the primary keys up to ``last_id`` (of ``max_id``, the largest
    when the purge began), what it deleted, and the purge's totals so far."""

    number: int
    last_id: int
    max_id: int
    expired: int
    revoked: int
    total: PurgeResult


def purge(
    *,
    now: datetime,
    batch_size: int,
    keep_revoked_for: timedelta,
    dry_run: bool = False,
    on_batch: Callable[[PurgeBatch], object] | None = None,
) -> PurgeResult:
    """Delete expired families and those revoked before ``now - keep_revoked_for``.

    A dry run counts them in one statement and deletes nothing. Raises ``ValueError`` for a
    ``batch_size`` below 1 or a negative ``keep_revoked_for``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
    if keep_revoked_for < timedelta(0):
        raise ValueError(f"keep_revoked_for must not be negative, not {keep_revoked_for!r}")
    conditions = _conditions(now, keep_revoked_for)
    if dry_run:
        counts = _db.families().aggregate(
            expired=Count("pk", filter=conditions.expired),
            revoked=Count("pk", filter=conditions.revoked),
        )
        return PurgeResult(expired=counts["expired"], revoked=counts["revoked"])
    result = _walk(conditions, batch_size, on_batch)
    logger.info(
        "tokenauth: purged %d expired and %d revoked families", result.expired, result.revoked
    )
    return result


@dataclass(frozen=True)
class _Conditions:
    expired: Q  # a live family past its idle or absolute expiry: refresh refuses it from there
    revoked: Q  # revoked long enough ago that its reuse record is no longer kept as evidence


def _conditions(now: datetime, keep_revoked_for: timedelta) -> _Conditions:
    return _Conditions(
        expired=Q(revoked_at__isnull=True)
        & (Q(idle_expires_at__lte=now) | Q(absolute_expires_at__lte=now)),
        revoked=Q(revoked_at__lte=now - keep_revoked_for),
    )


def _walk(
    conditions: _Conditions, batch_size: int, on_batch: Callable[[PurgeBatch], object] | None
) -> PurgeResult:
    # Rows born after this read are live: the walk stops at the largest primary key it saw.
    max_id = _db.families().aggregate(max_id=Max("pk"))["max_id"]
    total = PurgeResult(expired=0, revoked=0)
    after: int | None = None
    number = 0
    while max_id is not None and (after is None or after < max_id):
        last_id = _range_end(after, max_id, batch_size)
        in_range = _db.families().filter(pk__lte=last_id)
        if after is not None:
            in_range = in_range.filter(pk__gt=after)
        with _batch_transaction():
            revoked = _delete(in_range.filter(conditions.revoked))
            expired = _delete(in_range.filter(conditions.expired))
        number += 1
        total = PurgeResult(expired=total.expired + expired, revoked=total.revoked + revoked)
        if on_batch is not None:
            on_batch(PurgeBatch(number, last_id, max_id, expired, revoked, total))
        after = last_id
    return total


def _range_end(after: int | None, max_id: int, batch_size: int) -> int:
    """The primary key ``batch_size`` rows past ``after`` (``max_id`` when fewer are left).

    ``ORDER BY id LIMIT 1 OFFSET n`` reads the primary key's index alone: pk gaps cost
    nothing, and each batch holds ``batch_size`` rows whatever the ids.
    """
    rows = _db.families().filter(pk__lte=max_id)
    if after is not None:
        rows = rows.filter(pk__gt=after)
    found = list(rows.order_by("pk").values_list("pk", flat=True)[batch_size - 1 : batch_size])
    return found[0] if found else max_id


@contextmanager
def _batch_transaction() -> Iterator[None]:
    """One batch's transaction; on PostgreSQL its COMMIT does not wait for the WAL flush.

    A batch that a crash loses is deleted again by the next purge: no need to pay a flush per
    batch. Only in a transaction of the purge's own (``SET LOCAL`` ends with it): a caller's
    transaction keeps the durability it asked for.
    """
    connection = connections[_db.write_alias()]
    outermost = not connection.in_atomic_block
    with _db.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        yield


def _delete(families: QuerySet[RefreshTokenFamily]) -> int:
    # _raw_delete (Django's own fast path): one DELETE, no post_delete per row, which
    # mark_deleted_family would otherwise cost. No markers are needed: an expired family
    # mints nothing, and what it minted lives to its own exp (never past the family's
    # absolute expiry), row or no row; one revoked days ago got its markers then, and they
    # outlived its access tokens. Nothing references a family: no cascade to run.
    return int(families._raw_delete(_db.write_alias()))
