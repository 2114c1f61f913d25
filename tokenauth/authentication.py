"""DRF authentication by ``Authorization: Bearer <access token>`` (RFC 6750) or, for a
DPoP-bound token, ``Authorization: DPoP <access token>`` with its proof (RFC 9449 §7)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.functional import SimpleLazyObject
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from tokenauth import _dpop_requests, _token_users, service
from tokenauth.access import AccessClaims, InvalidAccessToken, decode_access_token
from tokenauth.dpop import DPoPProofError, ReplayCacheUnavailable
from tokenauth.settings import get_settings

__all__ = ["AccessTokenAuthentication", "LazyUser"]

logger = logging.getLogger(__name__)

_REALM = "api"
# What an auth-param's quoted-string may carry here (RFC 7235 §2.1): no quote, backslash or
# control character from a description that quotes a client's input.
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')
Scheme = Literal["Bearer", "DPoP"]


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
        scheme = parts[0].lower() if parts else ""
        mode = get_settings().dpop
        if scheme == "dpop" and mode != "off":
            claims = self._dpop_claims(request, parts)
        elif scheme == "bearer":
            claims = self._bearer_claims(request, parts, dpop_required=mode == "required")
        else:
            return None  # no credentials, or another scheme: other classes may take it
        try:
            found = service.user_for_claims(claims=claims)
        except service.AccessTokenRefused as exc:
            description = _DESCRIPTIONS.get(exc.reason, _DESCRIPTIONS["revoked"])
            self._fail(request, description, "DPoP" if claims.dpop_jkt else "Bearer")
        except service.TemporarilyUnavailable as exc:
            raise ServiceUnavailable() from exc
        if found.user is not None:
            return found.user, claims
        return LazyUser.of(found), claims

    def authenticate_header(self, request: Request) -> str:
        error = getattr(request, "_tokenauth_error", None)
        scheme: Scheme = getattr(request, "_tokenauth_scheme", "Bearer")
        auth = getattr(request, "_auth", None)
        if error is None and isinstance(auth, AccessClaims):
            # LazyUser's load failed in the view.
            error = "The access token's user no longer exists, is inactive or has a new password."
            scheme = "DPoP" if auth.dpop_jkt else "Bearer"
        if error is None:  # RFC 6750 §3.1, RFC 9449 §7.1: no error when no credentials came
            mode = get_settings().dpop
            if mode == "off":
                return _bearer_challenge()
            if mode == "required":
                return _dpop_challenge()
            return f"{_bearer_challenge()}, {_dpop_challenge()}"  # Bearer first (DESIGN §8)
        code = getattr(request, "_tokenauth_error_code", "invalid_token")
        if scheme == "DPoP":
            return _dpop_challenge(code, error)
        return _bearer_challenge(code, error)

    def _bearer_claims(
        self, request: Request, parts: list[str], *, dpop_required: bool
    ) -> AccessClaims:
        if dpop_required:  # DESIGN §8: bearer tokens are refused, with the DPoP challenge
            self._fail(request, "DPoP-bound access tokens are required.", "DPoP")
        if len(parts) != 2:
            self._fail(request, "The Bearer scheme takes exactly one token.")
        claims = self._decoded(request, parts[1], "Bearer")
        if claims.dpop_jkt is not None:  # RFC 9449 §7.2: no downgrade to a bearer token
            self._fail(request, "The access token is DPoP-bound: use the DPoP scheme.", "DPoP")
        return claims

    def _dpop_claims(self, request: Request, parts: list[str]) -> AccessClaims:
        if len(parts) != 2:
            self._fail(request, "The DPoP scheme takes exactly one token.", "DPoP")
        claims = self._decoded(request, parts[1], "DPoP")
        if claims.dpop_jkt is None:
            self._fail(request, "The access token is not DPoP-bound: use Bearer.", "DPoP")
        # The proof before the revocation check: an invalid one costs no query.
        try:
            _dpop_requests.resource_proof_jkt(
                request, access_token=parts[1], expected_jkt=claims.dpop_jkt
            )
        except DPoPProofError as exc:
            self._fail(request, exc.description, "DPoP", "invalid_dpop_proof")
        except ReplayCacheUnavailable:  # CACHE_FAILURE "closed": 401 at resources (DESIGN §8)
            description = "The DPoP proof cannot be checked right now."
            self._fail(request, description, "DPoP", "invalid_dpop_proof")
        return claims

    def _decoded(self, request: Request, access_token: str, scheme: Scheme) -> AccessClaims:
        try:
            return decode_access_token(access_token)
        except InvalidAccessToken as exc:
            logger.info("tokenauth: access token refused: %r", str(exc))
            self._fail(request, "The access token is invalid or expired.", scheme)

    def _fail(
        self,
        request: Request,
        description: str,
        scheme: Scheme = "Bearer",
        code: str = "invalid_token",
    ) -> NoReturn:
        # Read by authenticate_header.
        request._tokenauth_error = description  # type: ignore[attr-defined]
        request._tokenauth_scheme = scheme  # type: ignore[attr-defined]
        request._tokenauth_error_code = code  # type: ignore[attr-defined]
        raise exceptions.AuthenticationFailed(description)


def _bearer_challenge(code: str | None = None, description: str = "") -> str:
    if code is None:
        return f'Bearer realm="{_REALM}"'
    return (
        f'Bearer realm="{_REALM}", error="{code}", '
        f'error_description="{_UNQUOTABLE.sub("", description)}"'
    )


def _dpop_challenge(code: str | None = None, description: str = "") -> str:
    """RFC 9449 §7.1: ``algs`` names the proof algorithms accepted."""
    challenge = f'DPoP algs="{" ".join(get_settings().dpop_algorithms)}"'
    if code is None:
        return challenge
    return f'{challenge}, error="{code}", error_description="{_UNQUOTABLE.sub("", description)}"'


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
