"""The OpenAPI operations of tokenauth's endpoints: bodies, every status each one answers, and
text written for API users (the views' docstrings are for tokenauth's developers).

Each extension hands drf-spectacular a subclass of the view whose method carries the operation,
built when the schema is generated, so it follows the settings (cookie mode, ``USERNAME_FIELD``).
"""

# mypy: disallow-untyped-calls=False
# (drf-spectacular's extension base classes have an untyped __init_subclass__ and __init__.)

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.views import APIView

from tokenauth import cookies, views
from tokenauth.contrib.openapi.bodies import (
    TOKEN_REQUEST,
    TokenauthCookieRefresh,
    TokenauthDetail,
    TokenauthJWKS,
    TokenauthRefresh,
)
from tokenauth.contrib.openapi.responses import (
    BAD_GRANT,
    CHALLENGE,
    CSRF,
    FORM,
    JSON,
    LOCKED_OUT,
    MALFORMED,
    NO_STORE,
    RETRY_AFTER,
    THROTTLED,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    error_responses,
    merge,
    set_cookie,
    token_responses,
    unsupported,
)
from tokenauth.serializers import LoginSerializer, RevokeSerializer, SessionSerializer
from tokenauth.settings import get_settings


def _grace_note() -> str:
    seconds = int(get_settings().reuse_grace_period.total_seconds())
    if not seconds:
        return "."
    return (
        f", except a retry from the same client within {seconds} s of the first spend, which "
        "gets the same new refresh token again (a lost response, two tabs at once)."
    )


def cookie_note() -> str:
    if not cookies.enabled():
        return ""
    return (
        "\n\nCookie mode is on: the refresh token travels in an HttpOnly cookie, sent only to "
        "these endpoints. A request that uses the cookie must be a JSON POST with "
        "`X-Requested-With: XMLHttpRequest` and an `Origin` of this site (else 403). A refresh "
        "token sent in the body needs none of that, and its successor comes back in the body."
    )


class Operation(OpenApiViewExtension):
    """One tokenauth view, documented: ``operation()`` gives ``extend_schema``'s arguments."""

    method = "post"

    def operation(self) -> dict[str, Any]:
        raise NotImplementedError

    def view_replacement(self) -> type[APIView]:
        view = type(self.target.__name__, (self.target,), {"__doc__": None})
        return extend_schema_view(**{self.method: extend_schema(**self.operation())})(view)


class _Login(Operation):
    target_class = views.LoginView

    def operation(self) -> dict[str, Any]:
        username = get_user_model().USERNAME_FIELD
        failures = merge(
            {400: [MALFORMED, BAD_GRANT], 403: [LOCKED_OUT]},
            {403: [CSRF]} if cookies.enabled() else {},
            TOO_LARGE,
            unsupported("JSON"),
            THROTTLED,
            UNAVAILABLE,
        )
        return {
            "operation_id": "tokenauth_login",
            "summary": "Log in",
            "description": (
                f"Checks `{username}` and `password` and starts a new session: a refresh "
                "token for `refresh/` and a short-lived access token for the API. Each login "
                "is its own session, listed by `sessions/` and ended by `logout/`." + cookie_note()
            ),
            "request": {JSON: LoginSerializer},
            "responses": {**token_responses(cookies.enabled()), **error_responses(failures)},
            "parameters": [
                NO_STORE,
                RETRY_AFTER,
                *set_cookie(200, "The refresh cookie (HttpOnly)."),
            ],
        }


class _Refresh(Operation):
    target_class = views.RefreshView

    def operation(self) -> dict[str, Any]:
        cookie_mode = cookies.enabled()
        failures = merge(
            {400: [MALFORMED, BAD_GRANT]},
            {403: [CSRF]} if cookie_mode else {},
            TOO_LARGE,
            unsupported("JSON"),
            UNAVAILABLE,
        )
        return {
            "operation_id": "tokenauth_refresh",
            "summary": "Refresh the tokens",
            "description": (
                "Spends the refresh token and returns a new access token and a new refresh "
                "token for the same session. Each refresh token works once: presenting a "
                "spent one again revokes the whole session (reuse detection)"
                + _grace_note()
                + cookie_note()
            ),
            "request": {JSON: TokenauthCookieRefresh if cookie_mode else TokenauthRefresh},
            "responses": {**token_responses(cookie_mode), **error_responses(failures)},
            "parameters": [
                NO_STORE,
                RETRY_AFTER,
                *set_cookie(200, "The new refresh cookie, when the old one came in the cookie."),
            ],
        }


class _Token(Operation):
    target_class = views.TokenView

    def operation(self) -> dict[str, Any]:
        failures = merge(
            {
                400: [
                    MALFORMED,
                    BAD_GRANT,
                    ("unsupported_grant_type", "`grant_type` is neither of the two."),
                ],
                403: [LOCKED_OUT],
            },
            TOO_LARGE,
            unsupported("a form or JSON"),
            THROTTLED,
            UNAVAILABLE,
        )
        return {
            "operation_id": "tokenauth_token",
            "summary": "OAuth 2.0 token endpoint",
            "description": (
                "The RFC 6749 token endpoint, for OAuth client libraries: "
                "`grant_type=password` with `username` and `password` (a login), or "
                "`grant_type=refresh_token` with `refresh_token` (a refresh), as a form or "
                "JSON. Clients are public: no client authentication, and `client_id` is "
                "ignored. Refresh tokens always travel in the body here, cookie mode or not."
            ),
            "request": {JSON: TOKEN_REQUEST, FORM: TOKEN_REQUEST},
            "responses": {**token_responses(False), **error_responses(failures)},
            "parameters": [NO_STORE, RETRY_AFTER],
        }


class _Logout(Operation):
    target_class = views.LogoutView

    def operation(self) -> dict[str, Any]:
        cookie_mode = cookies.enabled()
        failures = merge(
            {400: [MALFORMED]},
            {403: [CSRF]} if cookie_mode else {},
            TOO_LARGE,
            unsupported("JSON"),
            UNAVAILABLE,
        )
        return {
            "operation_id": "tokenauth_logout",
            "summary": "Log out",
            "description": (
                "Ends the refresh token's session: its refresh token and, at once, its access "
                "tokens stop working. The answer is 204 whether or not the token was genuine."
                + cookie_note()
            ),
            "request": {JSON: TokenauthCookieRefresh if cookie_mode else TokenauthRefresh},
            "responses": {
                204: OpenApiResponse(description="Logged out (or the token was unknown)."),
                **error_responses(failures),
            },
            "parameters": [
                RETRY_AFTER,
                *set_cookie(204, "Clears the refresh cookie, when the token came in it."),
            ],
        }


class _LogoutAll(Operation):
    target_class = views.LogoutAllView

    def operation(self) -> dict[str, Any]:
        return {
            "operation_id": "tokenauth_logout_all",
            "summary": "Log out everywhere",
            "description": "Ends every session of the access token's user, this one included.",
            "request": None,
            "responses": {
                204: OpenApiResponse(description="Every session has ended."),
                **UNAUTHORIZED,
                **error_responses(merge(TOO_LARGE, UNAVAILABLE)),
            },
            "parameters": [CHALLENGE, RETRY_AFTER],
        }


class _Revoke(Operation):
    target_class = views.RevokeView

    def operation(self) -> dict[str, Any]:
        failures = merge({400: [MALFORMED]}, TOO_LARGE, unsupported("a form or JSON"), UNAVAILABLE)
        return {
            "operation_id": "tokenauth_revoke",
            "summary": "Revoke a token (RFC 7009)",
            "description": (
                "Ends the session of a refresh token, or of an access token that is still "
                "valid. The answer is 200 with no body for any token, genuine or not "
                "(RFC 7009 §2.2); `token_type_hint` is optional."
            ),
            "request": {JSON: RevokeSerializer, FORM: RevokeSerializer},
            "responses": {
                200: OpenApiResponse(description="Revoked (or the token was unknown)."),
                **error_responses(failures),
            },
            "parameters": [RETRY_AFTER],
        }


class _Sessions(Operation):
    target_class = views.SessionListView
    method = "get"

    def operation(self) -> dict[str, Any]:
        return {
            "operation_id": "tokenauth_sessions_list",
            "summary": "List your sessions",
            "description": (
                "The caller's sessions that can still refresh, newest first: one per login "
                "(a browser, an app). `current` marks the one this access token belongs to."
            ),
            "responses": {
                200: OpenApiResponse(SessionSerializer(many=True), description="Your sessions."),
                **UNAUTHORIZED,
                **error_responses(UNAVAILABLE),
            },
            "parameters": [CHALLENGE, RETRY_AFTER],
        }


class _Session(Operation):
    target_class = views.SessionDetailView
    method = "delete"

    def operation(self) -> dict[str, Any]:
        return {
            "operation_id": "tokenauth_sessions_revoke",
            "summary": "End one of your sessions",
            "description": "Ends the session with this `id` (from `sessions/`), if it is yours.",
            "responses": {
                204: OpenApiResponse(description="The session has ended."),
                **UNAUTHORIZED,
                404: OpenApiResponse(
                    TokenauthDetail,
                    description="No live session of yours has this id (unknown, already "
                    "ended, or another user's: all alike).",
                ),
                **error_responses(UNAVAILABLE),
            },
            "parameters": [
                OpenApiParameter(
                    "family_public_id",
                    str,
                    OpenApiParameter.PATH,
                    description="The session's `id`, as `sessions/` lists it.",
                ),
                CHALLENGE,
                RETRY_AFTER,
            ],
        }


class _JWKS(Operation):
    target_class = views.JWKSView
    method = "get"

    def operation(self) -> dict[str, Any]:
        return {
            "operation_id": "tokenauth_jwks",
            "summary": "The keys that verify access tokens",
            "description": (
                "The RFC 7517 key set another service needs to verify access tokens on its "
                "own: public keys only, so `keys` is empty when tokens are signed with an "
                "HMAC secret (HS256/384/512). A token's `kid` header names its key."
            ),
            "responses": {200: OpenApiResponse(TokenauthJWKS, description="The key set.")},
        }
