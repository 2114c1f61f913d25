"""Signing and verifying keys for access tokens: loading, ``kid`` and JWKS export."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from tokenauth import _digests
from tokenauth._exceptions import KeyMaterialError
from tokenauth._key_settings import HMAC_ALGORITHMS
from tokenauth.settings import TokenAuthSettings, get_settings

__all__ = ["Key", "KeyMaterialError", "KeySet", "get_key_set", "jwks", "key_id", "load_key_set"]

_HS_KEY_SALT = "tokenauth.keys.access-token-signing"


@dataclass(frozen=True)
class Key:
    kid: str
    algorithm: str
    # repr=False: an HS* key is the secret that signs every access token.
    verifying_key: Any = field(repr=False)  # bytes (HS*) or a ``cryptography`` public key
    signing_key: Any = field(default=None, repr=False)  # only for the current signing key
    public_jwk: dict[str, str] | None = None  # None for HS*: secrets are never published


@dataclass(frozen=True)
class KeySet:
    signing: Key
    by_kid: dict[str, Key]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the required members, sorted, no whitespace."""
    canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _derived_hs_key(secret: str | bytes) -> bytes:
    # A purpose-bound key: never sign with SECRET_KEY itself. 64 bytes fits HS512 too.
    return _digests.digest(_HS_KEY_SALT, "v1", secret=secret, algorithm="sha512")


def _hs_key(algorithm: str, secret: bytes, kid: str | None, *, signing: bool) -> Key:
    jwk = {"k": _b64(secret), "kty": "oct"}
    return Key(
        kid=kid or _thumbprint(jwk),
        algorithm=algorithm,
        verifying_key=secret,
        signing_key=secret if signing else None,
    )


def _asymmetric_key(algorithm: str, pem: str | bytes, kid: str | None, *, signing: bool) -> Key:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError as exc:  # the crypto extra is optional
        raise KeyMaterialError(
            f"{algorithm} needs 'drf-tokenauth[crypto]' (cryptography)."
        ) from exc
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        if signing:
            private_key = serialization.load_pem_private_key(data, password=None)
            public_key = private_key.public_key()
        else:
            private_key = None
            public_key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"not a PEM {'private' if signing else 'public'} key") from exc
    jwk = _public_jwk(algorithm, public_key)
    return Key(
        kid=kid or _thumbprint(jwk),
        algorithm=algorithm,
        verifying_key=public_key,
        signing_key=private_key,
        public_jwk={**jwk, "kid": kid or _thumbprint(jwk), "alg": algorithm, "use": "sig"},
    )


MIN_RSA_BITS = 2048


def _public_jwk(algorithm: str, public_key: Any) -> dict[str, str]:
    """The RFC 7638 required members of a public key; refuses a key that misfits its algorithm."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    def uint(n: int, size: int | None = None) -> str:
        return _b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))

    if algorithm[:2] in ("RS", "PS") and isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:  # RFC 7518 §3.3: 2048 bits or larger MUST
            raise KeyMaterialError(f"{algorithm} needs an RSA key of {MIN_RSA_BITS} bits or more")
        rsa_numbers = public_key.public_numbers()
        return {"e": uint(rsa_numbers.e), "kty": "RSA", "n": uint(rsa_numbers.n)}
    curves = {"ES256": ("P-256", 32, ec.SECP256R1), "ES384": ("P-384", 48, ec.SECP384R1)}
    if algorithm in curves and isinstance(public_key, ec.EllipticCurvePublicKey):
        crv, size, curve = curves[algorithm]
        if not isinstance(public_key.curve, curve):  # secp256k1 is 256 bits too, but not P-256
            raise KeyMaterialError(f"{algorithm} needs a {crv} key")
        point = public_key.public_numbers()
        return {"crv": crv, "kty": "EC", "x": uint(point.x, size), "y": uint(point.y, size)}
    if algorithm == "EdDSA":
        from cryptography.hazmat.primitives import serialization

        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            return {"crv": "Ed25519", "kty": "OKP", "x": _b64(public_key.public_bytes(*raw))}
        if isinstance(public_key, ed448.Ed448PublicKey):
            return {"crv": "Ed448", "kty": "OKP", "x": _b64(public_key.public_bytes(*raw))}
    raise KeyMaterialError(f"the key does not fit {algorithm}")


def _load(algorithm: str, material: str | bytes, kid: str | None, *, signing: bool) -> Key:
    if algorithm in HMAC_ALGORITHMS:
        secret = material.encode() if isinstance(material, str) else material
        if secret.lstrip().startswith((b"-----BEGIN", b"ssh-")):
            # PyJWT refuses these as HMAC secrets (key confusion); so do we, at check time.
            raise KeyMaterialError(f"{algorithm} needs a secret, not a PEM or SSH key")
        return _hs_key(algorithm, secret, kid, signing=signing)
    return _asymmetric_key(algorithm, material, kid, signing=signing)


def key_id(algorithm: str, signing_key: str | bytes) -> str:
    """The ``kid`` that ``SIGNING_KEY_ID`` defaults to for this key: its RFC 7638 thumbprint.

    Raises ``KeyMaterialError`` when the key does not load or does not fit ``algorithm``.
    """
    return _load(algorithm, signing_key, None, signing=True).kid


# The key set, with the settings object and secret keys it was loaded from: loaded again
# whenever either is another (override_settings, a SECRET_KEY rotation), so no
# setting_changed receiver is needed. One tuple, assigned at once: thread-safe.
_loaded: tuple[TokenAuthSettings, tuple[_digests.Secret, ...], KeySet] | None = None


def get_key_set() -> KeySet:
    """The signing key and every key accepted for verification, by ``kid``.

    ``get_settings()`` has refused a key that cannot be loaded already (``tokenauth.E008``).
    The same object while the settings and ``SECRET_KEY`` (and fallbacks) stay the same.
    """
    global _loaded
    conf, secret_keys = get_settings(), _digests.secret_keys()
    loaded = _loaded
    if loaded is None or loaded[0] is not conf or loaded[1] != secret_keys:
        loaded = _loaded = (conf, secret_keys, load_key_set(conf))
    return loaded[2]


def load_key_set(conf: TokenAuthSettings) -> KeySet:
    """The keys ``conf`` names; raises ``KeyMaterialError``, naming the setting, when one
    cannot load."""
    if conf.signing_key is None and conf.algorithm in HMAC_ALGORITHMS:
        current_secret, *fallbacks = _digests.secret_keys()
        signing = _hs_key(
            conf.algorithm,
            _derived_hs_key(current_secret),
            conf.signing_key_id,
            signing=True,
        )
        # Tokens signed before a SECRET_KEY rotation stay valid while the old key is a fallback.
        extra = [
            _hs_key(conf.algorithm, _derived_hs_key(old), None, signing=False) for old in fallbacks
        ]
    else:
        try:
            if conf.signing_key is None:
                raise KeyMaterialError(f"{conf.algorithm} needs one")
            signing = _load(conf.algorithm, conf.signing_key, conf.signing_key_id, signing=True)
        except KeyMaterialError as exc:
            raise KeyMaterialError(f"TOKENAUTH['SIGNING_KEY']: {exc}") from exc
        extra = []
    for entry in conf.verifying_keys:
        try:
            extra.append(_load(entry.algorithm, entry.key, entry.kid, signing=False))
        except KeyMaterialError as exc:
            raise KeyMaterialError(f"TOKENAUTH['VERIFYING_KEYS'] kid {entry.kid!r}: {exc}") from exc
    by_kid = {key.kid: key for key in extra}
    by_kid[signing.kid] = signing
    return KeySet(signing=signing, by_kid=by_kid)


def jwks() -> dict[str, list[dict[str, str]]]:
    """RFC 7517 key set of the public keys; empty for HS* (a secret is never published)."""
    key_set = get_key_set()
    keys = [key.public_jwk for key in key_set.by_kid.values() if key.public_jwk is not None]
    return {"keys": keys}
