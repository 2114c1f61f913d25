"""Signing and verifying keys (``tokenauth.keys``): loading, ``kid``, JWKS, and secrets kept out
of sight."""

from __future__ import annotations

import base64
from typing import Any

from tokenauth import keys


def _renderings(secret: bytes) -> list[str]:
    return [
        base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii"),
        base64.b64encode(secret).rstrip(b"=").decode("ascii"),
        secret.hex(),
        repr(secret),
    ]


def test_the_key_set_repr_does_not_contain_the_derived_hs_secret(settings: Any) -> None:
    settings.SECRET_KEY_FALLBACKS = ["old-tests-secret-key-that-is-long-enough-for-hmac-0123456"]
    key_set = keys.get_key_set()
    secrets = [key.verifying_key for key in key_set.by_kid.values()]
    assert key_set.signing.signing_key in secrets
    assert len(secrets) == 2
    assert all(isinstance(secret, bytes) and len(secret) >= 32 for secret in secrets)

    text = repr(key_set) + str(key_set) + repr(key_set.signing)

    for secret in secrets:
        for rendering in _renderings(secret):
            assert rendering not in text
