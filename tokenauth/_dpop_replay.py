"""The DPoP ``jti`` replay cache: one atomic ``add`` per proof in the cache of ``CACHE_ALIAS``."""

from __future__ import annotations

import hashlib
import logging
import math

from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache

from tokenauth._exceptions import TemporarilyUnavailable
from tokenauth.settings import get_settings

__all__ = ["ReplayCacheUnavailable", "first_use"]

logger = logging.getLogger(__name__)


class ReplayCacheUnavailable(TemporarilyUnavailable):
    """The replay cache cannot be reached and ``CACHE_FAILURE`` is ``"closed"``: token
    endpoints answer 503 ``temporarily_unavailable``, resources 401 (DESIGN §8)."""


def first_use(*, jkt: str, jti: str, seconds: float) -> bool:
    """Record the proof ``jti`` of key ``jkt`` for ``seconds``; False if it was recorded before.

    Processes sharing the cache (Redis) share the record: ``add`` is atomic, so of two
    requests racing with one proof exactly one gets True. Raises ``ReplayCacheUnavailable``
    when the cache is unreachable and ``CACHE_FAILURE`` is "closed"; with "open" the proof
    counts as unseen (and that is logged at ERROR).
    """
    conf = get_settings()
    cache = caches[conf.cache_alias]  # outside the try: a refused setting is no outage
    # Hashed: a jti is the client's text (up to 256 characters, any of them), and a key under
    # the client's jkt cannot collide with, nor block, another client's proofs.
    # 128 bits: a collision needs 2**64 proofs of one key. Short, as Django checks a key's
    # every character for memcached on each add.
    digest = hashlib.blake2b(
        f"{jkt}:{jti}".encode("utf-8", "surrogatepass"), digest_size=16
    ).hexdigest()
    timeout = max(1, math.ceil(seconds))
    try:
        return _add(cache, f"tokenauth:dpop:jti:{digest}", timeout)
    except Exception as exc:  # redis.ConnectionError, pymemcache errors, ...: no common base
        logger.error("tokenauth: DPoP replay cache unavailable: %r", exc)
        if conf.cache_failure == "closed":
            raise ReplayCacheUnavailable("DPoP replay cache unavailable") from exc
        return True


def _add(cache: BaseCache, key: str, timeout: int) -> bool:
    if not isinstance(cache, RedisCache):
        return bool(cache.add(key, 1, timeout=timeout))
    # Django's RedisCache builds a client object per call, which costs more than the SET
    # itself; one per cache object (one per thread and alias) shares the connection pool.
    # A plain integer is what Django's own serializer writes for 1: get() reads it back.
    client = cache.__dict__.get("_tokenauth_client") or cache._cache.get_client(write=True)
    cache.__dict__["_tokenauth_client"] = client
    name = cache.make_and_validate_key(key)
    return bool(client.set(name, 1, nx=True, ex=timeout))
