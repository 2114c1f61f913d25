"""The policy around a password check: the throttle's reservation, the cache probe, is_active."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import InterfaceError, OperationalError

from tokenauth import _receivers, _revocation_cache, _throttling
from tokenauth._exceptions import InvalidCredentials, LoginThrottled, TemporarilyUnavailable
from tokenauth.settings import get_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["checked_user"]


def checked_user(
    *, username: str, authenticate: Callable[[], AbstractBaseUser | None], ip: str | None
) -> AbstractBaseUser:
    """The active user ``authenticate`` returns, once the throttle admits the attempt; raises
    ``LoginThrottled``, ``InvalidCredentials`` or ``TemporarilyUnavailable``."""
    if get_settings().login_throttle_rate is None:
        # The throttle's own cache read fails closed when it runs; without it, ask here, before
        # a password hash is spent on a login that could not issue tokens.
        _revocation_cache.require_readable()
    try:
        # Counted before the hash: parallel guesses cannot overshoot the limit.
        attempt = _throttling.admit_login(ip=ip, username=username)
    except _throttling.ThrottleUnavailable as exc:
        raise TemporarilyUnavailable("login throttle unreadable") from exc
    if attempt.retry_after is not None:
        raise LoginThrottled(attempt.retry_after)
    # The window lets Django's rehash of this password re-stamp the families instead of
    # revoking them.
    try:
        with _receivers.tokenauth_login():
            user = authenticate()
    except (OperationalError, InterfaceError):
        attempt.not_a_failure()  # 503: no guess was answered
        raise
    if user is None or not user.is_active:
        raise InvalidCredentials("wrong credentials or inactive user")  # the reservation stands
    attempt.not_a_failure()
    return user
