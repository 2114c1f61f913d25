"""Keyed digests under SECRET_KEY: each use pinned to one known output, so that moving the
code (or a changed salt or algorithm) cannot silently log everybody out."""

from __future__ import annotations

from typing import Any

from tokenauth import _refresh_tokens, keys
from tokenauth._fingerprints import client_binding, password_version

# tests/settings.py's SECRET_KEY
SECRET_KEY = "tests-only-secret-key-that-is-long-enough-for-hmac-0123456789"
FAMILY_SECRET = "f" * 64
PUBLIC_ID = "AbCdEfGhIjKlMnOpQrStUv"


def test_a_refresh_tokens_mac_is_the_one_tokens_already_issued_carry() -> None:
    token = _refresh_tokens.make_refresh_token(
        family_secret=FAMILY_SECRET, public_id=PUBLIC_ID, generation=7
    )

    assert token == "tkrt_AbCdEfGhIjKlMnOpQrStUv.7.UquRbmwCVQ8_wdumI4pfX2nTMrcf8y5iKz5qXqzJHxk"


def test_the_password_version_is_the_one_families_and_access_tokens_already_hold() -> None:
    assert password_version("pbkdf2_sha256$1000000$salt$hash") == "c16e930162"


def test_the_client_binding_is_the_one_rotated_families_already_hold() -> None:
    binding = client_binding(ip="203.0.113.77", user_agent="pytest-agent/1.0")

    assert binding == "656666b8322ef3617b5ed92ea45fc646"


def test_the_derived_hs_signing_key_is_the_one_access_tokens_are_signed_with() -> None:
    key_set = keys.get_key_set()

    assert key_set.signing.verifying_key.hex() == (
        "26cfba5621935599cf598089b5f0fc601842040d41db78098e63c78f05c72f6f"
        "d1a19ea8bef21072714ac75878ac84e27197d6114695b552e535efdbe5d783c8"
    )
    assert key_set.signing.kid == "p9KAPQoZxo2Ld8n4NKVXPL4E7nfum9PhIbda2jNljJY"


def test_every_digest_changes_with_the_secret_key(settings: Any) -> None:
    settings.SECRET_KEY = SECRET_KEY + "-rotated"

    assert password_version("pbkdf2_sha256$1000000$salt$hash") != "c16e930162"
    assert client_binding(ip="203.0.113.77", user_agent="pytest-agent/1.0") != (
        "656666b8322ef3617b5ed92ea45fc646"
    )
    assert keys.get_key_set().signing.kid != "p9KAPQoZxo2Ld8n4NKVXPL4E7nfum9PhIbda2jNljJY"
