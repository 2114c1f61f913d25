"""Login throttle: every attempt per client IP, failures per (hashed) username.

Fixed-window counters in the Django cache with atomic ``add``/``incr``, so every process
sharing the cache (Redis) shares one limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from django.core.cache import BaseCache, caches

from tokenauth.settings import get_settings

__all__ = ["ThrottleUnavailable", "check_login_attempt", "record_login_failure", "timer"]

logger = logging.getLogger(__name__)

timer = time.time  # tests move the clock with time-machine


class ThrottleUnavailable(Exception):
    """The cache is unreachable and ``CACHE_FAILURE`` is ``"closed"``."""


def _username_key(username: str) -> str:
    # Hashed and case-folded: no username is stored, and "Alice" shares "alice"'s budget.
    return hashlib.sha256(username.casefold().encode("utf-8", "surrogatepass")).hexdigest()


def _window(period: int) -> tuple[int, int]:
    """The current window's number and the seconds until it ends."""
    now = timer()
    return int(now // period), max(1, math.ceil(period - now % period))


def check_login_attempt(*, ip: str | None, username: str) -> int | None:
    """Count this attempt; the seconds to wait when over the limit, else None."""
    conf = get_settings()  # outside the try: a refused setting is no cache outage
    if conf.login_throttle_rate is None:
        return None
    limit, period = conf.login_throttle_rate
    window, retry_after = _window(period)
    try:
        cache = caches[conf.cache_alias]
        attempts = _count(cache, f"tokenauth:login:ip:{ip or 'unknown'}:{window}", period)
        failures = cache.get(f"tokenauth:login:user:{_username_key(username)}:{window}", 0)
    except Exception as exc:  # backend connection errors have no common base
        _unavailable(exc)
        return None
    if attempts > limit or failures >= limit:
        logger.warning("tokenauth: login throttled for %s", ip)
        return retry_after
    return None


def record_login_failure(*, username: str) -> None:
    conf = get_settings()
    if conf.login_throttle_rate is None:
        return
    _, period = conf.login_throttle_rate
    window, _ = _window(period)
    key = f"tokenauth:login:user:{_username_key(username)}:{window}"
    try:
        _count(caches[conf.cache_alias], key, period)
    except Exception as exc:  # as above
        _unavailable(exc)


def _count(cache: BaseCache, key: str, period: int) -> int:
    """Add one to the window's counter, atomically; its new value.

    ``incr`` first: once a window has a counter (every attempt but its first) that is the
    only write, where ``add`` then ``incr`` cost one more cache round trip.
    """
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet in this window
        return 1 if cache.add(key, 1, timeout=period + 1) else cache.incr(key)


def _unavailable(exc: Exception) -> None:
    """Log; fail closed only where the cache is load-bearing (``cache`` revocation mode)."""
    logger.error("tokenauth: throttle cache unavailable: %s", exc)
    conf = get_settings()
    if conf.access_token_revocation == "cache" and conf.cache_failure == "closed":
        raise ThrottleUnavailable(str(exc)) from exc
