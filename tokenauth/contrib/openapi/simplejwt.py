"""drf-spectacular extensions for ``tokenauth.contrib.simplejwt``: its transition class and its
exchange endpoint. Imported only when simplejwt is installed (the contrib refuses to import
without it); the targets are named by path, so nothing of simplejwt loads before a schema does.
"""

# mypy: disallow-untyped-calls=False
# (drf-spectacular's extension base classes have an untyped __init_subclass__ and __init__.)

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from tokenauth import cookies
from tokenauth.authentication import AccessTokenAuthentication
from tokenauth.contrib.openapi.authentication import BEARER
from tokenauth.contrib.openapi.bodies import TokenauthSimpleJWTExchange
from tokenauth.contrib.openapi.responses import (
    BAD_GRANT,
    CSRF,
    JSON,
    MALFORMED,
    NO_STORE,
    RETRY_AFTER,
    TOO_LARGE,
    UNAVAILABLE,
    error_responses,
    merge,
    set_cookie,
    token_responses,
    unsupported,
)
from tokenauth.contrib.openapi.views import Operation, cookie_note

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema


class SimpleJWTTransitionScheme(OpenApiAuthenticationExtension):
    """``tokenauth.contrib.simplejwt``'s transition class reads simplejwt's access tokens from
    the same ``Authorization: Bearer`` header. Listed before ``AccessTokenAuthentication``, as
    the move requires, it adds nothing: that class's ``Bearer`` covers the header. Alone, it is
    a scheme of its own, ``SimpleJWTBearer`` (one component name, one class)."""

    target_class = "tokenauth.contrib.simplejwt.authentication.SimpleJWTTransitionAuthentication"
    match_subclasses = True

    def get_security_requirement(self, auto_schema: AutoSchema) -> list[dict[str, list[Any]]]:
        # drf-spectacular reads ``name`` after this call, to register the definitions.
        covered = any(
            isinstance(authenticator, AccessTokenAuthentication)
            for authenticator in auto_schema.view.get_authenticators()
        )
        self.name = [] if covered else ["SimpleJWTBearer"]
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema: AutoSchema) -> list[dict[str, Any]]:
        simplejwt = {**BEARER, "description": "An access token that simplejwt issued."}
        return [simplejwt for _ in self.name]


class _SimpleJWTExchange(Operation):
    target_class = "tokenauth.contrib.simplejwt.views.SimpleJWTExchangeView"

    def operation(self) -> dict[str, Any]:
        failures = merge(
            {400: [MALFORMED, BAD_GRANT]},
            {403: [CSRF]} if cookies.enabled() else {},
            TOO_LARGE,
            unsupported("JSON"),
            UNAVAILABLE,
        )
        return {
            "operation_id": "tokenauth_simplejwt_exchange",
            "summary": "Exchange a simplejwt refresh token",
            "description": (
                "For clients moving over from djangorestframework-simplejwt: a refresh token "
                "that simplejwt issued and still accepts starts a session here, as a login "
                "does, without the password. With simplejwt's `token_blacklist` app the "
                "simplejwt token is spent: a second exchange of it is 400 `invalid_grant`."
                + cookie_note()
            ),
            "request": {JSON: TokenauthSimpleJWTExchange},
            "responses": {**token_responses(cookies.enabled()), **error_responses(failures)},
            "parameters": [
                NO_STORE,
                RETRY_AFTER,
                *set_cookie(200, "The refresh cookie (HttpOnly)."),
            ],
        }
