"""Login throttle (DESIGN §2): counters taken before the password hash, given back on success.

Fixed-window counters in the cache of ``CACHE_ALIAS`` with atomic ``add``/``incr``, so every
process sharing the cache (Redis) shares one limit. Three buckets, each of N per window:

- the client network (an IPv4 address, an IPv6 /64): every attempt;
- the username on that network: failures, so a stranger elsewhere never locks the owner out;
- the username across networks: past 10 x N failures, a network that has failed for the
  username is throttled at once, while one that never failed for it still gets through.

Each attempt takes its place in every bucket *before* the hash runs (a reservation), so
parallel requests cannot overshoot; only a wrong password keeps its username places: a
success, a refusal or a database failure mid-hash gives them back.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import logging
import math
import time
import unicodedata
from dataclasses import dataclass

from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings

from tokenauth._client_info import network
from tokenauth.settings import get_settings

__all__ = ["LoginAttempt", "ThrottleUnavailable", "admit_login", "timer"]

logger = logging.getLogger(__name__)

timer = time.time  # tests move the clock with time-machine

# Past this many times the limit in failures for one username (all networks together), the
# networks that have failed for it are throttled.
_ACROSS_NETWORKS = 10


class ThrottleUnavailable(Exception):
    """The cache is unreachable and ``CACHE_FAILURE`` is ``"closed"``."""


@dataclass(frozen=True)
class LoginAttempt:
    """An admitted or refused login attempt; ``retry_after`` is set when refused.

    An admitted attempt holds a place in the username's counters until it ends: a wrong
    password keeps it (a failure); ``not_a_failure()`` gives it back.
    """

    retry_after: int | None = None
    _cache_alias: str = ""
    _username_keys: tuple[str, ...] = ()

    def not_a_failure(self) -> None:
        """The password was right, or no guess was made (the database failed mid-hash)."""
        if self._username_keys:
            _release(self._cache_alias, self._username_keys)


def admit_login(*, ip: str | None, username: str) -> LoginAttempt:
    """Reserve this attempt's place in every bucket; refused when one is full.

    Raises ``ThrottleUnavailable`` when the cache cannot be reached and ``CACHE_FAILURE``
    is ``"closed"``; with ``"open"`` the attempt is let through (and logged at ERROR).
    """
    conf = get_settings()
    if conf.login_throttle_rate is None:
        return LoginAttempt()
    limit, period = conf.login_throttle_rate
    window, retry_after = _window(period)
    client_network = network(ip) or "unknown"
    if (ip is None or _is_loopback(ip)) and api_settings.NUM_PROXIES is None:
        _warn_shared_bucket()
    user = _username_key(username)
    network_key = f"tokenauth:login:net:{client_network}:{window}"
    user_on_network_key = f"tokenauth:login:user:{user}:net:{client_network}:{window}"
    user_key = f"tokenauth:login:user:{user}:{window}"
    try:
        network_count, on_network, across = _take(
            caches[conf.cache_alias], (network_key, user_on_network_key, user_key), period, limit
        )
    except Exception as exc:  # backend connection errors have no common base
        _unavailable(exc)
        return LoginAttempt()
    refused = (
        network_count > limit
        or on_network > limit
        # Past 10 x N failures for the name, only networks that have failed for it are refused.
        or (across > _ACROSS_NETWORKS * limit and on_network > 1)
    )
    username_keys = (user_on_network_key, user_key) if on_network else ()
    if refused:
        logger.warning("tokenauth: login throttled for %r", ip)
        # No hash runs: a refusal is no failure (else the owner's second device, refused
        # while the first logs in, would mark home as a network that failed).
        _release(conf.cache_alias, username_keys)
        return LoginAttempt(retry_after=retry_after)
    return LoginAttempt(_cache_alias=conf.cache_alias, _username_keys=username_keys)


def _release(cache_alias: str, keys: tuple[str, ...]) -> None:
    if not keys:
        return
    try:
        _give_back(caches[cache_alias], keys)
    except Exception as exc:  # the counter only stays one too high until the window ends
        logger.error("tokenauth: throttle cache unavailable giving back: %r", exc)


def _username_key(username: str) -> str:
    """What a database's case-insensitive match would equate, hashed (DESIGN §2).

    NFKC folds fullwidth and compatibility forms; upper-casing before case-folding makes the
    dotless ``\u0131`` an ``I`` (``casefold()`` alone keeps it apart from ``i``).
    """
    folded = unicodedata.normalize("NFKC", username).upper().casefold()
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()


def _window(period: int) -> tuple[int, int]:
    """The current window's number and the seconds until it ends."""
    now = timer()
    return int(now // period), max(1, math.ceil(period - now % period))


def _take(cache: BaseCache, keys: tuple[str, str, str], period: int, limit: int) -> list[int]:
    """Add one to the network's counter and, unless that is over ``limit``, to the two
    username counters; their new values (0 for one left untouched). Atomic per counter."""
    if isinstance(cache, RedisCache):
        return _redis_take(cache, keys, period, limit)
    network_count = _count(cache, keys[0], period)
    if network_count > limit:
        return [network_count, 0, 0]
    return [network_count, _count(cache, keys[1], period), _count(cache, keys[2], period)]


def _count(cache: BaseCache, key: str, period: int) -> int:
    """Add one to the window's counter, atomically; its new value.

    ``incr`` first: once a window has a counter (every attempt but its first) that is the
    only write, where ``add`` then ``incr`` cost one more cache round trip.
    """
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet in this window
        return 1 if cache.add(key, 1, timeout=period + 1) else cache.incr(key)


def _give_back(cache: BaseCache, keys: tuple[str, ...]) -> None:
    if isinstance(cache, RedisCache):
        _redis_give_back(cache, keys)
        return
    for key in keys:
        with contextlib.suppress(ValueError):  # the window ended meanwhile
            cache.decr(key)


# Django's RedisCache spends two round trips on each incr (EXISTS, then INCR); a login would
# spend ten. One script takes all three counters in one round trip, and one pipeline gives two
# back. The values stay plain integers, as Django's own incr/get read them.
_TAKE = """
local function take(key)
  redis.call('SET', key, 0, 'EX', ARGV[1], 'NX')
  return redis.call('INCR', key)
end
local network = take(KEYS[1])
if network > tonumber(ARGV[2]) then return {network, 0, 0} end
return {network, take(KEYS[2]), take(KEYS[3])}
"""


def _redis_take(
    cache: RedisCache, keys: tuple[str, str, str], period: int, limit: int
) -> list[int]:
    client = cache._cache.get_client(write=True)
    # Registered once per cache object (one per thread and alias), like Django's own pools.
    script = cache.__dict__.get("_tokenauth_take") or client.register_script(_TAKE)
    cache.__dict__["_tokenauth_take"] = script
    names = [cache.make_and_validate_key(key) for key in keys]
    return [int(value) for value in script(keys=names, args=[period + 1, limit], client=client)]


def _redis_give_back(cache: RedisCache, keys: tuple[str, ...]) -> None:
    pipeline = cache._cache.get_client(write=True).pipeline(transaction=False)
    for key in keys:
        name = cache.make_and_validate_key(key)
        pipeline.set(name, 0, ex=_GIVE_BACK_TTL, nx=True)  # never a key without expiry
        pipeline.decr(name)
    pipeline.execute()


_GIVE_BACK_TTL = 86400 + 1  # only when the window's counter expired meanwhile: a day at most


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


@functools.cache
def _warn_shared_bucket() -> None:
    """Once per process: behind a proxy (or a unix socket) every client looks alike."""
    logger.warning(
        "tokenauth: a login came without a client IP or from a loopback address while "
        "REST_FRAMEWORK['NUM_PROXIES'] is unset: behind a proxy every client shares one "
        "login-throttle bucket. See the deployment checklist (docs/deployment.md)."
    )


def _unavailable(exc: Exception) -> None:
    """Log; with ``CACHE_FAILURE`` "closed" refuse the login (503) rather than throttle nothing."""
    logger.error("tokenauth: login throttle cache unavailable: %r", exc)
    if get_settings().cache_failure == "closed":
        raise ThrottleUnavailable(str(exc)) from exc
