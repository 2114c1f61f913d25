"""Access tokens for the tests: issued by tokenauth at a fixed instant, or forged by hand (any
header, payload, algorithm and key), and decoded at a chosen instant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tokenauth import keys
from tokenauth.access import (
    AccessClaims,
    InvalidAccessToken,
    decode_access_token,
    encode_access_token,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LIFETIME = timedelta(minutes=15)
SID = "c2lkLWZvci10ZXN0cy0wMQ"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def issue_token(*, now: datetime = NOW, user_id: str = "42", lifetime: timedelta = LIFETIME) -> str:
    return encode_access_token(
        user_id=user_id,
        family_public_id=SID,
        password_version="0123456789",
        now=now,
        expires_at=now + lifetime,
    )


def unverified(access_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(access_token)
    payload = jwt.decode(access_token, options={"verify_signature": False})
    return header, payload


def token_claims(now: datetime = NOW, **overrides: Any) -> dict[str, Any]:
    """Valid claims of an access token issued at ``now``; a value of None drops the claim."""
    iat = int(now.timestamp())
    claims = {
        "sub": "42",
        "sid": SID,
        "pwv": "0123456789",
        "jti": "test-jti",
        "iat": iat,
        "exp": iat + int(LIFETIME.total_seconds()),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def token_header(**overrides: Any) -> dict[str, Any]:
    """The header our signing key would write; a value of None drops the member."""
    signing = keys.get_key_set().signing
    header = {"alg": signing.algorithm, "typ": "at+jwt", "kid": signing.kid}
    header.update(overrides)
    return {name: value for name, value in header.items() if value is not None}


def sign_jws(signing_input: bytes, algorithm: str, key: Any) -> bytes:
    if algorithm == "none":
        return b""
    if algorithm.startswith("HS"):  # raw HMAC: PyJWT would refuse a PEM as an HMAC secret
        secret = key.encode() if isinstance(key, str) else key
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        return hmac.new(secret, signing_input, digest[algorithm]).digest()
    jws_algorithm = jwt.get_algorithm_by_name(algorithm)
    return jws_algorithm.sign(signing_input, jws_algorithm.prepare_key(key))


def forge_token(
    header: dict[str, Any] | None = None,
    payload: dict[str, Any] | bytes | None = None,
    *,
    key: Any = None,
    algorithm: str | None = None,
) -> str:
    """A compact JWS built by hand, signed with ``key`` (default: our signing key)."""
    header = token_header() if header is None else header
    payload = token_claims() if payload is None else payload
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(body)}".encode("ascii")
    signing = keys.get_key_set().signing
    signature = sign_jws(
        signing_input,
        algorithm or header.get("alg", signing.algorithm),
        signing.signing_key if key is None else key,
    )
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def decode_at(access_token: str, when: datetime = NOW) -> AccessClaims:
    with time_machine.travel(when, tick=False):
        return decode_access_token(access_token)


def assert_refused(access_token: str, when: datetime = NOW) -> None:
    with pytest.raises(InvalidAccessToken):
        decode_at(access_token, when)


KEY_FACTORIES = {
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}
REQUIRED_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def rfc7638_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the required members, lexicographic order, no whitespace."""
    members = {name: jwk[name] for name in REQUIRED_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def to_jwk(algorithm: str, public_key: Any) -> dict[str, Any]:
    jws_algorithm = jwt.get_algorithm_by_name(algorithm)
    return jws_algorithm.to_jwk(public_key, as_dict=True)
