"""Database routers for tests/test_database_routers.py, after the ``AuthRouter`` of Django's
multiple-databases guide: the auth tables, and tokenauth's beside them, in a database of their own.

Neither router says anything about migrations, so both test databases get every table (the
routers are active only inside the router tests); they decide where the rows go.
"""

from __future__ import annotations

from typing import Any

_AUTH_APPS = frozenset({"auth", "contenttypes", "tokenauth"})


def _auth_alias(model: Any) -> str | None:
    return "auth" if model._meta.app_label in _AUTH_APPS else None


class AuthRouter:
    """auth, contenttypes and tokenauth: read and written in the "auth" database."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return _auth_alias(model)

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return _auth_alias(model)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        if _auth_alias(obj1) or _auth_alias(obj2):
            return True
        return None


class LaggingReplicaRouter(AuthRouter):
    """As ``AuthRouter`` for writes; reads go to a replica that stopped catching up: the
    "default" database, which holds a copy of the test's user and nothing written after it."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return "default" if _auth_alias(model) else None
