"""Delete the families that can never refresh again, in primary-key-range batches.

The walk never loads a row as an object and never counts the table: each batch finds where
its range ends with one index-only read of the primary key, then deletes, in a transaction of
its own, the rows of that range that are purgeable *at that moment* (the condition is the
DELETE's own ``WHERE``, so a family refreshed since the purge began is kept). No DELETE has a
subquery (MariaDB refuses one on the table it deletes from), and each transaction holds the
locks of one range only: live traffic and a second purge run beside it. A batch the server
rolls back to break a deadlock runs again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import OperationalError, connections
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
        expired, revoked = _delete_batch(in_range, conditions)
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


def _delete_batch(
    in_range: QuerySet[RefreshTokenFamily], conditions: _Conditions
) -> tuple[int, int]:
    """Delete one range's purgeable families in one transaction: (expired, revoked).

    A batch chosen as a deadlock's victim (a second purge, or live traffic locking rows in
    another order) rolled back whole; it is run again, a few times, as MySQL's manual and
    PostgreSQL's advise. Not inside a caller's transaction: that one is lost with the batch.
    """
    attempt = 1
    while True:
        try:
            with _batch_transaction():
                revoked = _delete(in_range.filter(conditions.revoked))
                expired = _delete(in_range.filter(conditions.expired))
            return expired, revoked
        except OperationalError as exc:
            in_callers = connections[_db.write_alias()].in_atomic_block
            if not _is_deadlock(exc) or in_callers or attempt == _DEADLOCK_ATTEMPTS:
                raise
        logger.info("tokenauth: a purge batch lost a deadlock; running it again (%d)", attempt)
        time.sleep(random.uniform(0, _DEADLOCK_PAUSE * attempt))  # noqa: S311 (jitter only)
        attempt += 1


_DEADLOCK_ATTEMPTS = 5
_DEADLOCK_PAUSE = 0.05  # seconds: the most the first retry waits


def _is_deadlock(exc: OperationalError) -> bool:
    """The server rolled the transaction back to break a deadlock (not a lock wait timeout:
    that one means a lock is held too long, and stops the purge)."""
    driver_error = exc.__cause__
    sqlstate = getattr(driver_error, "sqlstate", None) or getattr(driver_error, "pgcode", None)
    if sqlstate is not None:  # psycopg 3, psycopg2
        return bool(sqlstate == "40P01")  # deadlock_detected
    args: tuple[object, ...] = getattr(driver_error, "args", ())
    return args[:1] == (1213,)  # ER_LOCK_DEADLOCK: MySQL and MariaDB


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
