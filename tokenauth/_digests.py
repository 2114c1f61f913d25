"""Keyed digests under ``SECRET_KEY``, checked under ``SECRET_KEY_FALLBACKS`` too.

Refresh-token MACs, the password version, the client binding and the derived HS* signing key
are all HMACs under a key Django derives from ``SECRET_KEY`` and a purpose (a salt); each
check accepts a digest made under any fallback, so rotating the key logs nobody out.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable

from django.conf import settings as django_settings
from django.utils.crypto import salted_hmac

__all__ = ["digest", "hex_digest", "matches_under_any_key", "secret_keys", "urlsafe_digest"]

Secret = str | bytes


def secret_keys() -> tuple[Secret, ...]:
    """``SECRET_KEY``, then each of its fallbacks."""
    return (django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", ()))


def digest(
    purpose: str, value: str, *, secret: Secret | None = None, algorithm: str = "sha256"
) -> bytes:
    """The HMAC of ``value`` for ``purpose`` under ``secret`` (``SECRET_KEY`` if None)."""
    return salted_hmac(purpose, value, secret=secret, algorithm=algorithm).digest()


def hex_digest(purpose: str, value: str, *, length: int, secret: Secret | None = None) -> str:
    """The first ``length`` hex characters of the SHA-256 ``digest``."""
    return salted_hmac(purpose, value, secret=secret, algorithm="sha256").hexdigest()[:length]


def urlsafe_digest(purpose: str, value: str, *, secret: Secret | None = None) -> str:
    """The SHA-256 ``digest`` in unpadded URL-safe base64 (43 characters)."""
    raw = digest(purpose, value, secret=secret)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def matches_under_any_key(presented: str, expected_under: Callable[[Secret], str]) -> bool:
    """Whether ``presented`` is ``expected_under(key)`` for ``SECRET_KEY`` or a fallback.

    Every key is tried, each in constant time: the timing tells nobody which key matched.
    """
    matched = False
    for secret in secret_keys():
        matched |= hmac.compare_digest(expected_under(secret), presented)
    return matched
