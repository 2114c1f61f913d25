"""Generate new access-token signing keys: a PEM key pair, or an HMAC secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from tokenauth._key_settings import ALGORITHMS, HMAC_ALGORITHMS
from tokenauth.keys import KeyMaterialError, key_id

__all__ = ["RSA_KEY_BITS", "NewKey", "generate_key"]

# RFC 7518 §3.3 requires 2048 bits at least; 3072 is NIST SP 800-57's size for use past 2030.
RSA_KEY_BITS = 3072


@dataclass(frozen=True)
class NewKey:
    algorithm: str
    kid: str  # the RFC 7638 thumbprint, as tokenauth computes it
    # repr=False: a PKCS #8 private key PEM, or the HMAC secret itself.
    signing_key: str = field(repr=False)
    public_pem: str | None  # None for HS*: the secret is the only key


def generate_key(algorithm: str) -> NewKey:
    """A fresh key for ``algorithm`` (one of ``key_settings.ALGORITHMS``).

    HS*: ``secrets.token_urlsafe`` of the hash's size (RFC 7518 §3.2), so the secret is as long
    in characters as ``tokenauth.E005`` asks in bytes, with full entropy. Raises ``ValueError``
    for an unknown algorithm, ``KeyMaterialError`` when ``cryptography`` is not installed.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}")
    if algorithm in HMAC_ALGORITHMS:
        secret = secrets.token_urlsafe(HMAC_ALGORITHMS[algorithm])
        return NewKey(algorithm, key_id(algorithm, secret), secret, None)
    private_pem, public_pem = _pem_pair(_private_key(algorithm))
    return NewKey(algorithm, key_id(algorithm, private_pem), private_pem, public_pem)


def _private_key(algorithm: str) -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    except ImportError as exc:  # the crypto extra is optional
        raise KeyMaterialError(
            f"{algorithm} needs 'drf-tokenauth[crypto]' (cryptography)."
        ) from exc
    if algorithm[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()  # EdDSA


def _pem_pair(private_key: Any) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization

    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # SIGNING_KEY is loaded without a password
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem.decode("ascii"), public_pem.decode("ascii")
