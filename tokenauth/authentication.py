"""DRF authentication by ``Authorization: Bearer <access token>`` (RFC 6750)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NoReturn

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.functional import SimpleLazyObject
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from tokenauth import _token_users, service
from tokenauth.access import AccessClaims, InvalidAccessToken, decode_access_token

__all__ = ["AccessTokenAuthentication", "LazyUser"]

logger = logging.getLogger(__name__)

_REALM = "api"


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "Authentication is temporarily unavailable."
    default_code = "temporarily_unavailable"
    wait = 5  # DRF turns ``wait`` into Retry-After


# The RFC 6750 error_description of each refusal the service reports.
_DESCRIPTIONS = {
    "invalid_subject": "The access token is invalid or expired.",
    "revoked": "The access token has been revoked.",
    "unverifiable": "The access token cannot be checked right now.",
}
# A refusal met while the lazy user loads in the view (the challenge then says so generically).
_LOAD_DETAILS = {
    "user_gone": "The user no longer exists.",
    "user_inactive": "The user is inactive.",
    "password_changed": "The access token's password version is outdated.",
}


class AccessTokenAuthentication(BaseAuthentication):
    """Bearer access tokens, checked against revocation as ``ACCESS_TOKEN_REVOCATION`` says
    (``service.user_for_claims``); this class maps its outcomes to RFC 6750 answers.

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
        try:
            found = service.user_for_claims(claims=claims)
        except service.AccessTokenRefused as exc:
            self._fail(request, _DESCRIPTIONS.get(exc.reason, _DESCRIPTIONS["revoked"]))
        except service.TemporarilyUnavailable as exc:
            raise ServiceUnavailable() from exc
        if found.user is not None:
            return found.user, claims
        return LazyUser.of(found), claims

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


def _load_user(pk: object, password_version: str | None) -> AbstractBaseUser:
    """The service's load, its refusals as DRF's: the load runs in the view."""
    try:
        return service.load_user(user_pk=pk, password_version=password_version)
    except service.AccessTokenRefused as exc:
        detail = _LOAD_DETAILS.get(exc.reason, _LOAD_DETAILS["user_gone"])
        raise exceptions.AuthenticationFailed(detail) from None
    except service.TemporarilyUnavailable as exc:  # loaded in the view: still 503, not 500
        raise ServiceUnavailable() from exc


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
        """Raises Django's ``ValidationError`` for a ``user_id`` no user can have."""
        self._start(_token_users.pk_of(user_id), password_version)

    @classmethod
    def of(cls, found: service.TokenUser) -> LazyUser:
        """The lazy user of what ``service.user_for_claims`` found (pk already clean)."""
        lazy = cls.__new__(cls)
        lazy._start(found.user_pk, found.password_version)
        return lazy

    def _start(self, pk: object, password_version: str | None) -> None:
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
