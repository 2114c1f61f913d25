"""The two reads on the hot paths, a family with its user, each one statement compiled once.

Django compiles a queryset to SQL each time it runs, and for these joins that costs several
times what running the statement does (see ``benchmarks/``). The statements never change
shape, so each is compiled once per database connection and user model, and reused. Rows
still go through the ORM's own converters and ``Model.from_db``, so the instances are the
ones the ORM builds. That leans on three of Django's internals (``get_compiler``, ``as_sql``,
``results_iter``): if a Django release changes them, the lookups log one WARNING and run as
plain querysets instead, slower but with the same results and statement counts.

Users are never read through the user model's default manager, which a project may have
filtering users out: the joins ignore managers, and ``user_of`` uses the base manager.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

import django
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

from tokenauth import _db
from tokenauth._refresh_tokens import is_public_id
from tokenauth.models import RefreshTokenFamily

__all__ = ["FamilyState", "family_and_user", "family_for_update", "user_of"]

logger = logging.getLogger(__name__)

# Bound where the public id goes. No public id has this shape, and every database accepts it
# (PostgreSQL refuses NUL): should it ever reach a query, that query finds nothing.
_PLACEHOLDER = "(tokenauth: the public id)"
_FAMILY_FIELDS = tuple(field.attname for field in RefreshTokenFamily._meta.concrete_fields)
_STATE_FIELDS = ("revoked_at", "password_version")


@dataclass(frozen=True)
class FamilyState:
    """What authentication needs from the family row: is it live, and for which password."""

    revoked_at: datetime | None
    password_version: str


def family_and_user(public_id: str) -> tuple[FamilyState, AbstractBaseUser] | None:
    """``database`` mode, every request: the family's state and its user, or None.

    Read where revocations are written, never from a replica that may not have them yet.
    """
    if not is_public_id(public_id):
        return None  # nothing to look up; and PostgreSQL refuses some strings (NUL)
    connection = connections[_db.write_alias()]
    try:
        found = _AUTHENTICATION.fetch(connection, public_id)
    except _UnexpectedShape:
        family = _first(_orm_families(connection, public_id))
        if family is None:
            return None
        return FamilyState(family.revoked_at, family.password_version), family.user
    if found is None:
        return None
    compiled, (revoked_at, password_version, *user_values) = found
    return FamilyState(revoked_at, password_version), compiled.user(connection.alias, user_values)


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
    if not is_public_id(public_id):
        return None
    try:
        found = _ROTATION.fetch(connection, public_id)
    except _UnexpectedShape:
        families = _orm_families(connection, public_id)
        if connection.features.has_select_for_update_of:
            families = families.select_for_update(of=("self",))
        return _first(families)
    if found is None:
        return None
    compiled, values = found
    split = len(_FAMILY_FIELDS)
    family = RefreshTokenFamily.from_db(connection.alias, _FAMILY_FIELDS, values[:split])
    family.user = compiled.user(connection.alias, values[split:])  # type: ignore[assignment]  # AUTH_USER_MODEL
    return family


def user_of(family: RefreshTokenFamily) -> AbstractBaseUser:
    """The family's user: the one read with it, else loaded once from the family's database
    (a router may send user reads to a replica; the refresh must see what the lock saw)."""
    if not RefreshTokenFamily._meta.get_field("user").is_cached(family):
        users = get_user_model()._base_manager.using(family._state.db)
        family.user = users.get(pk=family.user_id)
    return family.user


def _orm_families(connection: BaseDatabaseWrapper, public_id: str) -> QuerySet[RefreshTokenFamily]:
    """The plain queryset the compiled statements stand for: one statement, user joined."""
    families = RefreshTokenFamily.objects.using(connection.alias).select_related("user")
    return families.filter(public_id=public_id)


def _first(families: QuerySet[RefreshTokenFamily]) -> RefreshTokenFamily | None:
    return next(iter(families[:1]), None)  # LIMIT 1, as compiled; first() would add ORDER BY


class _UnexpectedShape(Exception):
    """Django compiled or converted a statement in a way this module was not written for."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    width: int  # columns per row
    compiler: SQLCompiler  # its converters turn raw column values into Python ones
    user_model: type[AbstractBaseUser]
    user_fields: tuple[str, ...]

    def user(self, alias: str, values: Sequence[Any]) -> AbstractBaseUser:
        return self.user_model.from_db(alias, self.user_fields, values)


# The kind's and user model's compiled statement, or None once it proved unusable.
_Cache = dict[tuple[str, str], _Compiled | None]
_CACHE_ATTRIBUTE = "_tokenauth_statements"


def _cache_of(connection: BaseDatabaseWrapper) -> _Cache:
    """Kept on the connection object, so it goes when the connection does (threaded and ASGI
    servers make a connection object per thread)."""
    cache: _Cache | None = connection.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = connection.__dict__[_CACHE_ATTRIBUTE] = {}
    return cache


class _Statement:
    """One SELECT by public id, compiled on first use on each connection for each user model."""

    def __init__(self, kind: str, columns: tuple[str, ...], *, locks: bool) -> None:
        self.kind = kind
        self._columns = columns  # the family's, then the user's
        self._locks = locks

    def fetch(
        self, connection: BaseDatabaseWrapper, public_id: str
    ) -> tuple[_Compiled, Sequence[Any]] | None:
        """The row for ``public_id``, converted, or None; ``_UnexpectedShape`` when this
        statement cannot be used on this connection (logged once per process)."""
        user_model = get_user_model()
        key = (self.kind, user_model._meta.label)
        cache = _cache_of(connection)
        compiled = cache[key] if key in cache else self._compile(connection, user_model, cache)
        if compiled is None:
            raise _UnexpectedShape
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, [public_id])
            rows = cursor.fetchmany(1)
        if not rows:
            return None
        try:
            converted = list(compiled.compiler.results_iter(results=[rows]))
            usable = len(converted) == 1 and len(converted[0]) == compiled.width
        except DatabaseError:
            raise
        except Exception as exc:  # whatever a changed internal raises: not the caller's error
            self._give_up(cache, key, f"results_iter() raised {exc!r}")
        if not usable:  # e.g. it ran the query itself, with the placeholder: no row
            self._give_up(cache, key, "results_iter() did not give back the row it was given")
        return compiled, converted[0]

    def compiled_on(
        self, connection: BaseDatabaseWrapper, user_model: type[AbstractBaseUser]
    ) -> _Compiled | None:
        """What ``fetch`` would run for that user model (None: nothing, or the ORM path)."""
        return _cache_of(connection).get((self.kind, user_model._meta.label))

    def _compile(
        self, connection: BaseDatabaseWrapper, user_model: type[AbstractBaseUser], cache: _Cache
    ) -> _Compiled:
        key = (self.kind, user_model._meta.label)
        user_fields = tuple(field.attname for field in user_model._meta.concrete_fields)
        try:
            compiler = self._queryset(connection, user_fields).query.get_compiler(
                connection=connection
            )
            sql, params = compiler.as_sql()
        except DatabaseError:
            raise  # the database's own trouble (features read from a lost connection)
        except Exception as exc:  # whatever a changed internal raises
            self._give_up(cache, key, f"compiling raised {exc!r}")
        if tuple(params) != (_PLACEHOLDER,):
            # Exactly one value to bind, the public id: anything else is a shape we never saw.
            self._give_up(cache, key, f"{len(params)} parameter(s), not the public id alone")
        width = len(self._columns) + len(user_fields)
        compiled = _Compiled(sql, width, compiler, user_model, user_fields)
        cache[key] = compiled
        return compiled

    def _queryset(
        self, connection: BaseDatabaseWrapper, user_fields: Sequence[str]
    ) -> QuerySet[Any]:
        families = RefreshTokenFamily.objects.filter(public_id=_PLACEHOLDER)
        if self._locks and connection.features.has_select_for_update_of:
            families = families.select_for_update(of=("self",))  # the family row, never the user's
        return families.values_list(*self._columns, *(f"user__{name}" for name in user_fields))[:1]

    def _give_up(self, cache: _Cache, key: tuple[str, str], what: str) -> NoReturn:
        cache[key] = None
        _warn_once(self.kind, what)
        raise _UnexpectedShape(what)


_warned = threading.Lock()  # held for good once the warning is logged


def _warn_once(kind: str, what: str) -> None:
    if _warned.acquire(blocking=False):
        logger.warning(
            "tokenauth: Django %s changed the compiler internals the %s lookup relies on (%s);"
            " using the ORM path instead: same results, slower",
            django.get_version(),
            kind,
            what,
        )


_AUTHENTICATION = _Statement("authentication", _STATE_FIELDS, locks=False)
_ROTATION = _Statement("rotation", _FAMILY_FIELDS, locks=True)
