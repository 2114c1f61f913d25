"""The two reads on the hot paths, a family with its user, each one statement compiled once.

Django compiles a queryset to SQL each time it runs, and for these joins that costs several
times what running the statement does (see ``benchmarks/``). The statements never change
shape, so each is compiled once per database connection and reused. Rows still go through
the ORM's own converters and ``Model.from_db``, so the instances are the ones the ORM builds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

from tokenauth import _db
from tokenauth.models import RefreshTokenFamily
from tokenauth.refresh_tokens import is_public_id

__all__ = ["FamilyState", "family_and_user", "family_for_update", "user_of"]

_PLACEHOLDER = "\x00public_id\x00"


@dataclass(frozen=True)
class FamilyState:
    """What authentication needs from the family row: is it live, and for which password."""

    revoked_at: datetime | None
    password_fingerprint: str


def family_and_user(public_id: str) -> tuple[FamilyState, AbstractBaseUser] | None:
    """``database`` mode, every request: the family's state and its user, or None.

    Read where revocations are written, never from a replica that may not have them yet.
    """
    found = _AUTHENTICATION.fetch(_db.write_alias(), public_id)
    if found is None:
        return None
    alias, (revoked_at, fingerprint, *user_values) = found
    return FamilyState(revoked_at, fingerprint), _user(alias, user_values)


def family_for_update(public_id: str) -> RefreshTokenFamily | None:
    """Refresh and logout: the family with its user, in one statement, inside the transaction.

    Where the database can lock the family row alone (PostgreSQL, MySQL 8: ``FOR UPDATE OF``)
    it is locked, so a second refresh of the token waits and then reads the winner's row.
    Elsewhere (MariaDB, SQLite) the read takes no lock: a locking join would take the user
    row too, and deadlock with a password change (user row first, then the families). There
    the compare-and-set decides, and the caller re-reads the row, locked, when it loses.
    """
    connection = connections[_db.write_alias()]
    if connection.features.has_select_for_update and connection.get_autocommit():
        # What Django checks when it compiles a locking query; ours is compiled only once.
        raise TransactionManagementError("select_for_update cannot be used outside a transaction")
    found = _ROTATION.fetch(connection.alias, public_id)
    if found is None:
        return None
    alias, values = found
    split = len(_FAMILY_FIELDS)
    family = RefreshTokenFamily.from_db(alias, _FAMILY_FIELDS, values[:split])
    family.user = _user(alias, values[split:])  # type: ignore[assignment]  # AUTH_USER_MODEL
    return family


def user_of(family: RefreshTokenFamily) -> AbstractBaseUser:
    """The family's user: the one read with it, else loaded once from the family's database
    (a router may send user reads to a replica; the refresh must see what the lock saw)."""
    if not RefreshTokenFamily._meta.get_field("user").is_cached(family):
        users = get_user_model()._base_manager.using(family._state.db)
        family.user = users.get(pk=family.user_id)
    return family.user


_FAMILY_FIELDS = tuple(field.attname for field in RefreshTokenFamily._meta.concrete_fields)


@functools.cache
def _user_fields() -> tuple[str, ...]:
    """Fixed once the apps are loaded, like the compiled statements that select them."""
    return tuple(field.attname for field in get_user_model()._meta.concrete_fields)


def _user(alias: str, values: list[Any]) -> AbstractBaseUser:
    return get_user_model().from_db(alias, _user_fields(), values)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    public_id_index: int
    compiler: SQLCompiler  # its converters turn raw column values into Python ones


class _Statement:
    """One SELECT by public id, compiled on first use on each connection.

    The compiled form lives on the connection object itself, so it goes when the connection
    does (threaded and ASGI servers make a connection object per thread).
    """

    def __init__(self, name: str, build: Callable[[BaseDatabaseWrapper], QuerySet[Any]]) -> None:
        self._attribute = f"_tokenauth_{name}_statement"
        self._build = build

    def fetch(self, alias: str, public_id: str) -> tuple[str, list[Any]] | None:
        if not is_public_id(public_id):
            return None  # nothing to look up; and PostgreSQL refuses some strings (NUL)
        connection = connections[alias]
        compiled = self.compiled_on(connection) or self._compile(connection)
        params = list(compiled.params)
        params[compiled.public_id_index] = public_id
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchmany(1)
        for row in compiled.compiler.results_iter(results=[rows]):
            return alias, list(row)
        return None

    def compiled_on(self, connection: BaseDatabaseWrapper) -> _Compiled | None:
        return connection.__dict__.get(self._attribute)

    def _compile(self, connection: BaseDatabaseWrapper) -> _Compiled:
        compiler = self._build(connection).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        compiled = _Compiled(sql, tuple(params), list(params).index(_PLACEHOLDER), compiler)
        connection.__dict__[self._attribute] = compiled
        return compiled


def _authentication_query(connection: BaseDatabaseWrapper) -> QuerySet[Any]:
    return RefreshTokenFamily.objects.filter(public_id=_PLACEHOLDER).values_list(
        "revoked_at", "password_fingerprint", *(f"user__{name}" for name in _user_fields())
    )[:1]


def _rotation_query(connection: BaseDatabaseWrapper) -> QuerySet[Any]:
    families = RefreshTokenFamily.objects.filter(public_id=_PLACEHOLDER)
    if connection.features.has_select_for_update_of:
        # Lock the family row only, never the user row.
        families = families.select_for_update(of=("self",))
    return families.values_list(*_FAMILY_FIELDS, *(f"user__{name}" for name in _user_fields()))[:1]


_AUTHENTICATION = _Statement("authentication", _authentication_query)
_ROTATION = _Statement("rotation", _rotation_query)
