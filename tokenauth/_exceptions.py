"""Every exception a user can catch, under ``TokenAuthError``; ``tokenauth.service`` re-exports
them all (the public names)."""

from __future__ import annotations

__all__ = [
    "AccessTokenRefused",
    "DPoPKeyMismatch",
    "InvalidAccessToken",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "KeyMaterialError",
    "LoginThrottled",
    "TemporarilyUnavailable",
    "TokenAuthError",
]


class TokenAuthError(Exception):
    """Base of every error tokenauth raises for its users to catch."""


class InvalidCredentials(TokenAuthError):
    """Wrong username or password, or an inactive user: the client cannot tell which."""


class InvalidRefreshToken(TokenAuthError):
    """The refresh token buys nothing. ``reason`` (a ``str``; a ``Refusal`` from the service)
    is for logs, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DPoPKeyMismatch(TokenAuthError):
    """A refresh of a DPoP-bound family came without a proof by its key (DESIGN §8): refused
    before anything changed (not rotated, not revoked, no reuse detection)."""


class LoginThrottled(TokenAuthError):
    """The login throttle refused the attempt before any password was checked."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class TemporarilyUnavailable(TokenAuthError):
    """A store the rules need cannot be read (the database; the revocation cache in ``cache``
    mode with ``CACHE_FAILURE`` "closed"): nothing was spent or issued; retry later."""


class AccessTokenRefused(TokenAuthError):
    """A verified access token buys nothing. ``reason`` (one of ``REASONS``) is for logs and
    the HTTP layer's wording, never a secret."""

    REASONS = (
        "invalid_subject",  # ``sub`` is no pk the user model can have
        "revoked",  # the family is revoked, or the user inactive or re-passworded
        "unverifiable",  # cache mode, cache unreadable, CACHE_FAILURE "closed"
        "user_gone",
        "user_inactive",
        "password_changed",
    )

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidAccessToken(TokenAuthError):
    """The access token is malformed, forged, expired or not an access token."""


class KeyMaterialError(TokenAuthError, ValueError):
    """A configured or generated key cannot be loaded or does not fit its algorithm.

    Also a ``ValueError``, as it always was.
    """
