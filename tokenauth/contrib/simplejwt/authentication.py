"""Accept simplejwt's access tokens while clients move over; the rest is tokenauth's."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from tokenauth.authentication import AccessTokenAuthentication, ServiceUnavailable

__all__ = ["SimpleJWTTransitionAuthentication"]

logger = logging.getLogger(__name__)


class SimpleJWTTransitionAuthentication(JWTAuthentication):
    """An access token that simplejwt issued and still validates, by simplejwt's settings and
    checks, for an active user; None for anything else, so ``AccessTokenAuthentication``
    (listed after this class) answers it, RFC 6750 401 included.

    ``request.auth`` is simplejwt's ``AccessToken``.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        try:
            found = super().authenticate(request)
        except exceptions.AuthenticationFailed:  # simplejwt's InvalidToken is one
            return None
        except (OperationalError, InterfaceError) as exc:  # its user lookup: 503, not 500
            logger.error("tokenauth: database unavailable during authentication: %r", exc)
            raise ServiceUnavailable() from exc
        if found is None:
            return None
        user, _token = found
        # Even with simplejwt's CHECK_USER_IS_ACTIVE off: tokenauth lets no inactive user in.
        if not user.is_active:
            return None
        logger.debug("tokenauth: simplejwt access token accepted for user %s", user.pk)
        return found

    def authenticate_header(self, request: Request) -> str:
        # DRF takes a 401's challenge from the first class: keep tokenauth's RFC 6750 one.
        return AccessTokenAuthentication().authenticate_header(request)
