"""The one database tokenauth uses: the router's ``db_for_write(RefreshTokenFamily)``.

Transactions, locks, ``on_commit`` and every read of revocation state go there, so a project
that routes its auth tables to a database of their own keeps atomicity, and never reads a
family from a lagging replica. The user model's table must live there too: families join it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import router, transaction
from django.db.transaction import Atomic

from tokenauth.models import RefreshTokenFamily, RefreshTokenFamilyQuerySet

__all__ = ["atomic", "families", "on_commit", "write_alias"]


def write_alias() -> str:
    """The alias of the database that holds the families."""
    return router.db_for_write(RefreshTokenFamily)


def atomic() -> Atomic:
    """``transaction.atomic`` on that database (Django's default alias may be another one)."""
    return transaction.atomic(using=write_alias())


def on_commit(callback: Callable[[], object]) -> None:
    """Run ``callback`` once that database's transaction commits (at once outside one)."""
    transaction.on_commit(callback, using=write_alias())


def families() -> RefreshTokenFamilyQuerySet:
    """All families, read from that database too (the router would send reads elsewhere)."""
    return RefreshTokenFamily.objects.using(write_alias())
