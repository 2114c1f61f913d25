"""Revoke a user's families when their password changes or they are deactivated.

Connected in ``TokenAuthConfig.ready()`` to the user model's ``pre_save``/``post_save``, so
it works however the user is saved. ``QuerySet.update()`` sends no signal: refresh and
``database`` mode still catch a changed password through the fingerprint.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import get_hasher, identify_hasher, is_password_usable
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model

from tokenauth import _db, service
from tokenauth.fingerprints import password_fingerprint, password_fingerprints
from tokenauth.models import RevocationReason

_WATCHED = frozenset({"password", "is_active"})
_PENDING = "_tokenauth_pending"


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
    # The row being overwritten, from the database the save writes to (never a replica).
    old = sender._default_manager.using(using).filter(pk=instance.pk).values(*columns).first()
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
    """post_save: revoke, or re-stamp the fingerprint after a hasher upgrade."""
    pending = instance.__dict__.pop(_PENDING, None)
    if not pending:
        return
    if "revoke" in pending:
        service.revoke_user(user=instance, reason=RevocationReason(pending["revoke"]))
    else:
        _db.families().filter(
            user_id=instance.pk,
            revoked_at__isnull=True,
            password_fingerprint__in=password_fingerprints(pending["restamp"]),
        ).update(password_fingerprint=password_fingerprint(instance.password))


def _is_column(model: type[Model], name: str) -> bool:
    try:
        return bool(model._meta.get_field(name).concrete)
    except FieldDoesNotExist:
        return False


def _is_rehash(user: Any, old_hash: str, update_fields: Any) -> bool:
    """Django's login-time upgrade of a hash (``check_password``'s setter) is no password change.

    That setter clears ``_password`` and saves ``update_fields=["password"]``, and only runs
    when the old hash needed an upgrade; a real change through ``set_password`` keeps
    ``_password`` set until after the save.
    """
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
