"""DRF authentication by ``Authorization: Bearer <access token>`` (RFC 6750)."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, NoReturn

from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.utils.functional import SimpleLazyObject
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from tokenauth import _db, revocation_cache, service
from tokenauth.access import AccessClaims, InvalidAccessToken, decode_access_token
from tokenauth.fingerprints import password_fingerprint_matches
from tokenauth.settings import get_settings

__all__ = ["AccessTokenAuthentication", "LazyUser"]

logger = logging.getLogger(__name__)

_REALM = "api"


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "Authentication is temporarily unavailable."
    default_code = "temporarily_unavailable"
    wait = 5  # DRF turns ``wait`` into Retry-After


class AccessTokenAuthentication(BaseAuthentication):
    """Bearer access tokens, checked against revocation as ``ACCESS_TOKEN_REVOCATION`` says.

    ``request.auth`` is the token's ``AccessClaims``.
    """

    def authenticate(self, request: Request) -> tuple[Any, AccessClaims] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        parts = header.split()
        if not parts or parts[0].lower() != "bearer":
            return None  # no credentials, or another scheme: other classes may take it
        if len(parts) != 2:
            self._fail(request, "The Bearer scheme takes exactly one token.")
        try:
            claims = decode_access_token(parts[1])
        except InvalidAccessToken as exc:
            logger.info("tokenauth: access token refused: %r", str(exc))
            self._fail(request, "The access token is invalid or expired.")
        conf = get_settings()
        if conf.access_token_revocation == "database":
            return self._database_user(request, claims), claims
        if conf.access_token_revocation == "cache":
            self._check_cache(request, claims, conf.cache_failure)
        try:
            return LazyUser(claims.user_id, password_version=claims.password_version), claims
        except ValidationError:
            self._fail(request, "The access token is invalid or expired.")

    def authenticate_header(self, request: Request) -> str:
        error = getattr(request, "_tokenauth_error", None)
        if error is None and isinstance(getattr(request, "_auth", None), AccessClaims):
            # LazyUser's load failed in the view.
            error = "The access token's user no longer exists, is inactive or has a new password."
        if error is None:  # RFC 6750 §3.1: no error attribute when no credentials came
            return f'Bearer realm="{_REALM}"'
        return f'Bearer realm="{_REALM}", error="invalid_token", error_description="{error}"'

    def _fail(self, request: Request, description: str) -> NoReturn:
        request._tokenauth_error = description  # type: ignore[attr-defined]  # read by authenticate_header
        raise exceptions.AuthenticationFailed(description)

    def _database_user(self, request: Request, claims: AccessClaims) -> AbstractBaseUser:
        try:
            user = service.user_for_access_token(claims)
        except (OperationalError, InterfaceError) as exc:  # locked or lost; not a bug's error
            logger.error("tokenauth: database unavailable during authentication: %r", exc)
            raise ServiceUnavailable() from exc
        if user is None:
            self._fail(request, "The access token has been revoked.")
        return user

    def _check_cache(self, request: Request, claims: AccessClaims, cache_failure: str) -> None:
        try:
            revoked = revocation_cache.is_revoked(claims.family_public_id)
        except revocation_cache.CacheUnavailable as exc:
            logger.error("tokenauth: revocation cache unreadable: %r", exc)
            if cache_failure == "closed":
                self._fail(request, "The access token cannot be checked right now.")
            return  # CACHE_FAILURE "open": availability over prompt revocation
        if revoked:
            self._fail(request, "The access token has been revoked.")


def _load_user(pk: Any, password_version: str | None) -> AbstractBaseUser:
    user_model = get_user_model()
    try:
        # From the families' database, never a lagging replica (pwv and is_active are checked
        # here), through the base manager as in database mode: a default manager that hides
        # users (soft deletion) must not answer differently per mode.
        user = user_model._base_manager.using(_db.write_alias()).get(pk=pk)
    except (user_model.DoesNotExist, ValueError, OverflowError):  # gone, or a pk no row can have
        raise exceptions.AuthenticationFailed("The user no longer exists.") from None
    except (OperationalError, InterfaceError) as exc:  # loaded in the view: still 503, not 500
        logger.error("tokenauth: database unavailable loading the user: %r", exc)
        raise ServiceUnavailable() from exc
    if not user.is_active:
        raise exceptions.AuthenticationFailed("The user is inactive.")
    # DESIGN §4: the row is at hand, so a password changed since the token was minted (even by
    # a QuerySet.update(), which no receiver sees) refuses it.
    if password_version is not None and not password_fingerprint_matches(
        user.password, password_version
    ):
        raise exceptions.AuthenticationFailed("The access token's password version is outdated.")
    return user


@functools.lru_cache(maxsize=1024)
def _clean_pk(user_model_label: str, user_id: str) -> Any:
    """``sub`` as the user model's pk: to_python plus the field's range validators, so no query
    sees a bad pk; raises ``ValidationError``.

    Cached (refusals are not): the same few users call again and again, and cleaning a string
    gives the same pk every time. The label is in the key so a swapped user model cleans anew.
    """
    user_model = django_apps.get_model(user_model_label, require_ready=False)
    return user_model._meta.pk.clean(user_id, None)


if TYPE_CHECKING:
    _LazyBase = SimpleLazyObject[AbstractBaseUser]
else:
    _LazyBase = SimpleLazyObject


class LazyUser(_LazyBase):
    """The token's user: ``pk``, ``id`` and ``is_authenticated`` cost nothing; anything else
    loads the real user once (one query), so existing views keep working.

    With ``password_version`` (the token's ``pwv``), a user whose password changed since is
    refused at that load (401); None checks nothing."""

    def __init__(self, user_id: str, *, password_version: str | None = None) -> None:
        pk = _clean_pk(django_settings.AUTH_USER_MODEL, user_id)
        super().__init__(lambda: _load_user(pk, password_version))
        self.__dict__["_pk"] = pk  # LazyObject.__setattr__ would load the user

    @property
    def pk(self) -> Any:
        return self.__dict__["_pk"]

    @property
    def id(self) -> Any:
        return self.__dict__["_pk"]

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def __bool__(self) -> bool:  # DRF's IsAuthenticated tests ``request.user and ...``
        return True
