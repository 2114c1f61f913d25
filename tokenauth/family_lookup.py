"""``database`` mode's per-request read: a family's state and its user, in one statement.

Django compiles a queryset to SQL each time it runs, and for this join that costs several
times what running the statement does (see ``benchmarks/``). The statement never changes
shape, so it is compiled once per database connection and reused. Rows still go through the
ORM's own converters and ``Model.from_db``, so the user is the instance the ORM would build.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql.compiler import SQLCompiler

from tokenauth.models import RefreshTokenFamily
from tokenauth.refresh_tokens import is_public_id

__all__ = ["FamilyState", "family_and_user"]

_PLACEHOLDER = "\x00public_id\x00"
_FAMILY_COLUMNS = ("revoked_at", "password_fingerprint")


@dataclass(frozen=True)
class FamilyState:
    """What authentication needs from the family row: is it live, and for which password."""

    revoked_at: datetime | None
    password_fingerprint: str


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: tuple[Any, ...]
    public_id_index: int
    compiler: SQLCompiler  # its converters turn raw column values into Python ones
    user_fields: tuple[str, ...]


_statements: WeakKeyDictionary[BaseDatabaseWrapper, _Statement] = WeakKeyDictionary()
_lock = threading.Lock()


def family_and_user(public_id: str) -> tuple[FamilyState, AbstractBaseUser] | None:
    """The family with this public id and its user, or None when there is no such family."""
    if not is_public_id(public_id):
        return None  # nothing to look up; and PostgreSQL refuses some strings (NUL) outright
    alias = router.db_for_read(RefreshTokenFamily)
    connection = connections[alias]
    statement = _statements.get(connection) or _compile(connection, alias)
    params = list(statement.params)
    params[statement.public_id_index] = public_id
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        rows = cursor.fetchmany(1)
    for row in statement.compiler.results_iter(results=[rows]):
        revoked_at, fingerprint, *user_values = row
        user = get_user_model().from_db(alias, statement.user_fields, user_values)
        return FamilyState(revoked_at, fingerprint), user
    return None


def _compile(connection: BaseDatabaseWrapper, alias: str) -> _Statement:
    user_fields = tuple(field.attname for field in get_user_model()._meta.concrete_fields)
    queryset = RefreshTokenFamily._base_manager.filter(public_id=_PLACEHOLDER).values_list(
        *_FAMILY_COLUMNS, *(f"user__{name}" for name in user_fields)
    )[:1]
    compiler = queryset.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    statement = _Statement(
        sql=sql,
        params=tuple(params),
        public_id_index=list(params).index(_PLACEHOLDER),
        compiler=compiler,
        user_fields=user_fields,
    )
    with _lock:
        _statements[connection] = statement
    return statement
