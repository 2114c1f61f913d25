"""Keep tokens in step with saved and deleted rows: a user's password change or deactivation
revokes their families; a deleted live family's access tokens are marked revoked.

Connected in ``TokenAuthConfig.ready()`` to the user model's ``pre_save``/``post_save``, so
it works however the user is saved, and to the family's ``post_delete``. ``QuerySet.update()``
sends no signal: refresh and ``database`` mode still catch a changed password through the
family's password version, and the ``pwv`` claim wherever the user row is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import get_hasher, identify_hasher, is_password_usable
from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from django.db.models import Model

from tokenauth import _db, _revocation_cache, service
from tokenauth._fingerprints import password_version, password_versions
from tokenauth.models import RefreshTokenFamily, RevocationReason

__all__ = ["apply_changes", "mark_deleted_family", "remember_changes", "tokenauth_login"]

_WATCHED = frozenset({"password", "is_active"})
_PENDING = "_tokenauth_pending"


@dataclass
class _LoginWindow:
    """Open while tokenauth's login view runs ``authenticate()``; the first hash change in it
    closes it, so at most one save per login can pass for Django's rehash."""

    open: bool = True


# A ContextVar, not a global or a thread-local: another thread's or asyncio task's login (the
# admin's, a session view) running meanwhile never sees this one's window.
_LOGIN: ContextVar[_LoginWindow | None] = ContextVar("tokenauth_login", default=None)


@contextmanager
def tokenauth_login() -> Iterator[None]:
    """Around the ``authenticate()`` of tokenauth's own login: a hash upgrade Django makes in
    it re-stamps the user's families instead of revoking them (DESIGN §5). Closed on exit,
    also when ``authenticate()`` raises."""
    reset = _LOGIN.set(_LoginWindow())
    try:
        yield
    finally:
        _LOGIN.reset(reset)


def remember_changes(
    sender: type[Model],
    instance: Any,
    raw: bool = False,
    using: str | None = None,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """pre_save: note what the save changes, to act on it once the row is written."""
    instance.__dict__.pop(_PENDING, None)  # a save that failed after pre_save leaves nothing
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not (_WATCHED & set(update_fields)):
        return  # e.g. update_last_login: no query
    # AbstractBaseUser's is_active is a plain True unless the model adds the column.
    columns = [f for f in ("password", "is_active") if _is_column(sender, f)]
    # The row being overwritten, from the database the save writes to (never a replica), past
    # any default manager that hides users (soft deletion, tenants).
    old = sender._base_manager.using(using).filter(pk=instance.pk).values(*columns).first()
    if old is None:
        return
    pending: dict[str, str] = {}
    if old.get("is_active", True) and not getattr(instance, "is_active", True):
        pending["revoke"] = RevocationReason.DEACTIVATED
    elif old["password"] != instance.password:
        if _is_rehash(instance, old["password"], update_fields):
            pending["restamp"] = old["password"]
        else:
            pending["revoke"] = RevocationReason.PASSWORD_CHANGED
    instance.__dict__[_PENDING] = pending


def apply_changes(sender: type[Model], instance: Any, created: bool = False, **kwargs: Any) -> None:
    """post_save: revoke, or re-stamp the password version after a hasher upgrade."""
    pending = instance.__dict__.pop(_PENDING, None)
    if not pending:
        return
    if "revoke" in pending:
        service.revoke_user(user=instance, reason=RevocationReason(pending["revoke"]))
    else:
        _db.families().filter(
            user_id=instance.pk,
            revoked_at__isnull=True,
            password_version__in=password_versions(pending["restamp"]),
        ).update(password_version=password_version(instance.password))


def mark_deleted_family(
    sender: type[Model], instance: RefreshTokenFamily, using: str, **kwargs: Any
) -> None:
    """post_delete: in ``cache`` mode a live family's access tokens die with its row, once the
    delete commits on the family's database (the admin, a user's deletion, the shell).

    A revoked family got its markers when it was revoked. ``purge_expired`` deletes without
    this signal (see ``tokenauth._purge._delete``)."""
    if instance.revoked_at is None:
        public_id = instance.public_id
        transaction.on_commit(lambda: _revocation_cache.mark_revoked([public_id]), using=using)


def _is_column(model: type[Model], name: str) -> bool:
    try:
        return bool(model._meta.get_field(name).concrete)
    except FieldDoesNotExist:
        return False


def _is_rehash(user: Any, old_hash: str, update_fields: Any) -> bool:
    """Whether this hash change is provably Django's upgrade of the same password.

    Only inside tokenauth's own login (``tokenauth_login()``): elsewhere (the admin's login, a
    session view, ``check_password()`` in user code) nothing tells the upgrade from a new
    password saved the same way, so it revokes. Inside, it must still have the shape of
    ``check_password``'s setter: ``_password`` cleared (``set_password`` keeps it set until
    after the save), ``update_fields=["password"]``, an old hash that needed the upgrade and a
    new one on the preferred hasher's current parameters.
    """
    window = _LOGIN.get()
    if window is None or not window.open:
        return False
    window.open = False  # the first hash change of the login is the only candidate
    if getattr(user, "_password", None) is not None or update_fields is None:
        return False
    if set(update_fields) != {"password"} or not is_password_usable(user.password):
        return False  # set_unusable_password() is no upgrade
    try:
        old_hasher, new_hasher = identify_hasher(old_hash), identify_hasher(user.password)
    except ValueError:
        return False
    preferred = get_hasher()
    if new_hasher.algorithm != preferred.algorithm or preferred.must_update(user.password):
        return False  # an upgrade always lands on the preferred hasher's current parameters
    return old_hasher.algorithm != preferred.algorithm or preferred.must_update(old_hash)
