"""Revoked-family markers in the Django cache, for ``ACCESS_TOKEN_REVOCATION = "cache"``."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.cache import caches

from tokenauth._exceptions import TemporarilyUnavailable
from tokenauth.settings import get_settings

__all__ = ["CacheUnavailable", "is_revoked", "mark_revoked", "require_readable"]

logger = logging.getLogger(__name__)


class CacheUnavailable(Exception):
    """The cache could not be read."""


def _key(family_public_id: str) -> str:
    return f"tokenauth:revoked:{family_public_id}"


def mark_revoked(family_public_ids: Iterable[str]) -> None:
    """Remember revoked families for as long as one of their access tokens can live.

    Called after commit; a failed write is logged at ERROR (the revocation itself stands).
    """
    conf = get_settings()
    if conf.access_token_revocation != "cache":
        return
    timeout = (conf.access_token_lifetime + conf.leeway).total_seconds() + 1
    markers = {_key(public_id): 1 for public_id in family_public_ids}
    if not markers:
        return
    try:
        caches[conf.cache_alias].set_many(markers, timeout=timeout)
    except Exception:  # any backend's connection error; the cache API names none
        logger.exception("tokenauth: could not write %d revocation markers", len(markers))


def is_revoked(family_public_id: str) -> bool:
    """Whether the family was revoked recently; raises ``CacheUnavailable`` if unreadable."""
    alias = get_settings().cache_alias  # outside the try: a refused setting is no outage
    try:
        return caches[alias].get(_key(family_public_id)) is not None
    except Exception as exc:  # redis.ConnectionError, pymemcache errors, ...: no common base
        raise CacheUnavailable(str(exc)) from exc


def require_readable() -> None:
    """``cache`` mode with ``CACHE_FAILURE`` "closed": raise the service's
    ``TemporarilyUnavailable`` when the cache cannot be read, so nothing mints an access token
    that every protected resource would refuse (DESIGN §3)."""
    conf = get_settings()
    if conf.access_token_revocation == "cache" and conf.cache_failure == "closed":
        try:
            is_revoked("-")  # no family has this id: only whether the read succeeds matters
        except CacheUnavailable as exc:
            logger.error("tokenauth: revocation cache unreadable: %r", exc)
            raise TemporarilyUnavailable("revocation cache unreadable") from exc
