"""Stateless DPoP server nonces (RFC 9449 §8): a MAC of the time step, any process checks any
other's."""

from __future__ import annotations

import base64
import hmac
from datetime import datetime

from django.conf import settings as django_settings
from django.utils.crypto import salted_hmac

__all__ = ["NONCE_STEP_SECONDS", "current_nonce", "is_current_nonce"]

# A nonce is good for the step it was made in and the next: 5 to 10 minutes.
NONCE_STEP_SECONDS = 300
_SALT = "tokenauth.dpop.nonce"


def current_nonce(now: datetime) -> str:
    """The nonce to send in ``DPoP-Nonce`` now, under ``SECRET_KEY``."""
    return _nonce(_step(now), django_settings.SECRET_KEY)


def is_current_nonce(nonce: object, now: datetime) -> bool:
    """Whether ``nonce`` was made in this step or the previous one, under ``SECRET_KEY`` or one
    of ``SECRET_KEY_FALLBACKS`` (a key rotation does not send every client a retry)."""
    if not isinstance(nonce, str) or not nonce.isascii():
        return False
    step = _step(now)
    secrets = [django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", [])]
    matches = [
        hmac.compare_digest(nonce, _nonce(candidate, secret))
        for secret in secrets
        for candidate in (step, step - 1)
    ]
    return any(matches)  # every candidate compared: the time taken says nothing of which


def _step(now: datetime) -> int:
    return int(now.timestamp()) // NONCE_STEP_SECONDS


def _nonce(step: int, secret: str | bytes) -> str:
    mac = salted_hmac(_SALT, str(step), secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
