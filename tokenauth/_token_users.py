"""Whom a verified access token speaks for: the ``ACCESS_TOKEN_REVOCATION`` check, then the
user row (``tokenauth.service`` is the public face of these)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError

from tokenauth import _db, _revocation_cache
from tokenauth._exceptions import AccessTokenRefused, TemporarilyUnavailable
from tokenauth._family_lookup import family_and_user
from tokenauth._fingerprints import password_version_matches
from tokenauth.settings import get_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from tokenauth.access import AccessClaims

__all__ = [
    "TokenUser",
    "clean_pk",
    "load_user",
    "pk_of",
    "user_for_access_token",
    "user_for_claims",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenUser:
    """Whom a verified access token speaks for. ``user`` is set when the revocation check
    loaded the row (``database`` mode); otherwise ``load_user`` loads it when it is needed, so
    ``cache`` and ``none`` modes cost no query until then."""

    user_pk: object
    password_version: str | None
    user: AbstractBaseUser | None = None


def user_for_claims(claims: AccessClaims) -> TokenUser:
    """Check the token as ``ACCESS_TOKEN_REVOCATION`` says: ``database``, its family and user
    in one query; ``cache``, its family's revocation marker (an unreadable cache follows
    ``CACHE_FAILURE``); ``none``, nothing. Raises ``AccessTokenRefused``, or
    ``TemporarilyUnavailable`` when the database is locked or lost (``database`` mode)."""
    conf = get_settings()
    if conf.access_token_revocation == "database":
        try:
            user = user_for_access_token(claims)
        except (OperationalError, InterfaceError) as exc:  # locked or lost; not a bug's error
            logger.error("tokenauth: database unavailable during authentication: %r", exc)
            raise TemporarilyUnavailable("database unavailable") from exc
        if user is None:
            raise AccessTokenRefused("revoked")
        return TokenUser(user_pk=user.pk, password_version=claims.password_version, user=user)
    if conf.access_token_revocation == "cache":
        _check_marker(claims.family_public_id, closed=conf.cache_failure == "closed")
    return TokenUser(user_pk=clean_pk(claims.user_id), password_version=claims.password_version)


def _check_marker(family_public_id: str, *, closed: bool) -> None:
    try:
        revoked = _revocation_cache.is_revoked(family_public_id)
    except _revocation_cache.CacheUnavailable as exc:
        logger.error("tokenauth: revocation cache unreadable: %r", exc)
        if closed:
            raise AccessTokenRefused("unverifiable") from exc
        return  # CACHE_FAILURE "open": availability over prompt revocation
    if revoked:
        raise AccessTokenRefused("revoked")


def user_for_access_token(claims: AccessClaims) -> AbstractBaseUser | None:
    """``database`` mode: the token's user if its family is live, in ONE query (a join).

    None when the family is revoked or unknown, the user inactive or their password changed
    (caught through the password version even after a ``QuerySet.update()``).
    """
    found = family_and_user(claims.family_public_id)
    if found is None:
        return None
    family, user = found
    if (
        family.revoked_at is not None
        or str(user.pk) != claims.user_id
        or not user.is_active
        or not password_version_matches(
            user.password, family.password_version, claims.password_version
        )
    ):
        return None
    return user


def clean_pk(user_id: str) -> object:
    """``sub`` as the user model's pk; raises ``AccessTokenRefused("invalid_subject")``."""
    try:
        return pk_of(user_id)
    except ValidationError:
        raise AccessTokenRefused("invalid_subject") from None


def pk_of(user_id: str) -> object:
    """``sub`` as the user model's pk; raises Django's ``ValidationError``."""
    return _clean_pk(django_settings.AUTH_USER_MODEL, user_id)


@functools.lru_cache(maxsize=1024)
def _clean_pk(user_model_label: str, user_id: str) -> object:
    """to_python plus the field's range validators, so no query sees a bad pk.

    Cached (refusals are not): the same few users call again and again, and cleaning a string
    gives the same pk every time. The label is in the key so a swapped user model cleans anew.
    """
    user_model = django_apps.get_model(user_model_label, require_ready=False)
    return user_model._meta.pk.clean(user_id, None)


def load_user(user_pk: object, password_version: str | None) -> AbstractBaseUser:
    """The active user of that pk whose password is still the token's (``password_version``
    None checks nothing). Raises ``AccessTokenRefused``, or ``TemporarilyUnavailable`` when
    the database is locked or lost."""
    user_model = get_user_model()
    try:
        # From the families' database, never a lagging replica (pwv and is_active are checked
        # here), through the base manager as in database mode: a default manager that hides
        # users (soft deletion) must not answer differently per mode.
        user = user_model._base_manager.using(_db.write_alias()).get(pk=user_pk)  # type: ignore[misc]  # any pk type
    except (user_model.DoesNotExist, ValueError, OverflowError):  # gone, or a pk no row can have
        raise AccessTokenRefused("user_gone") from None
    except (OperationalError, InterfaceError) as exc:
        logger.error("tokenauth: database unavailable loading the user: %r", exc)
        raise TemporarilyUnavailable("database unavailable") from exc
    if not user.is_active:
        raise AccessTokenRefused("user_inactive")
    # DESIGN §4: the row is at hand, so a password changed since the token was minted (even by
    # a QuerySet.update(), which no receiver sees) refuses it.
    if password_version is not None and not password_version_matches(
        user.password, password_version
    ):
        raise AccessTokenRefused("password_changed")
    return user
