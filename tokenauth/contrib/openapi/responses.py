"""The responses tokenauth's operations share: RFC error bodies by status, with the error codes
each status carries, and the headers that go with them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from tokenauth import cookies
from tokenauth._http_errors import MAX_BODY_BYTES
from tokenauth.contrib.openapi.bodies import (
    TokenauthCookieTokenResponse,
    TokenauthDetail,
    TokenauthError,
    TokenauthTokenResponse,
)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# status: [(error code, when)]
Failures = dict[int, list[tuple[str, str]]]

MALFORMED = (
    "invalid_request",
    "A field is missing, empty, too long or not a string, or the body is malformed.",
)
TOO_LARGE: Failures = {413: [("invalid_request", f"The body is over {MAX_BODY_BYTES} bytes.")]}
UNAVAILABLE: Failures = {
    503: [
        (
            "temporarily_unavailable",
            "The database or the cache is unreachable; retry after `Retry-After` seconds.",
        )
    ]
}
BAD_GRANT = (
    "invalid_grant",
    "The credentials or the refresh token are invalid, expired or revoked (a spent refresh "
    "token presented again revokes its whole session).",
)
THROTTLED: Failures = {
    429: [("too_many_requests", "Too many login attempts; retry after `Retry-After` seconds.")]
}
LOCKED_OUT = ("access_denied", "A lockout app (django-axes, ...) refused the login.")
CSRF = (
    "invalid_request",
    "Cookie mode: a request that uses the refresh cookie, or a login, must be a JSON POST "
    "with `X-Requested-With: XMLHttpRequest` and an `Origin` of this site.",
)


def unsupported(media_types: str) -> Failures:
    return {415: [("invalid_request", f"The body is not {media_types}.")]}


def error_responses(failures: Failures) -> dict[int, OpenApiResponse]:
    return {
        status: OpenApiResponse(
            TokenauthError,
            description="\n".join(f"- `{code}`: {when}" for code, when in entries),
            examples=[
                OpenApiExample(code, value={"error": code, "error_description": when})
                for code, when in entries
            ],
        )
        for status, entries in sorted(failures.items())
    }


def merge(*tables: Failures) -> Failures:
    merged: Failures = {}
    for table in tables:
        for status, entries in table.items():
            merged.setdefault(status, []).extend(entries)
    return merged


RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    required=True,
    description="Seconds to wait before trying again.",
    response=[429, 503],
)
NO_STORE = OpenApiParameter(
    "Cache-Control",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="`no-store` (RFC 6749 §5.1): no cache keeps a token.",
    response=[200],
)
UNAUTHORIZED = {
    401: OpenApiResponse(
        TokenauthDetail,
        description="No access token, or one that is invalid, expired or revoked; "
        "`WWW-Authenticate` says which.",
    )
}
CHALLENGE = OpenApiParameter(
    "WWW-Authenticate",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description='RFC 6750 §3: `Bearer realm="api"`, plus `error="invalid_token"` and an '
    "`error_description` when a token was sent.",
    response=[401],
)


def set_cookie(status: int, what: str) -> list[OpenApiParameter]:
    """Cookie mode's ``Set-Cookie``, documented only when cookie mode is on."""
    if not cookies.enabled():
        return []
    return [
        OpenApiParameter(
            "Set-Cookie", str, OpenApiParameter.HEADER, description=what, response=[status]
        )
    ]


def token_responses(cookie_mode: bool) -> dict[int, OpenApiResponse]:
    return {
        200: OpenApiResponse(
            TokenauthCookieTokenResponse if cookie_mode else TokenauthTokenResponse,
            description="The token response (RFC 6749 §5.1).",
        )
    }
