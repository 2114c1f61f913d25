"""DPoP proofs for tests: real keys from ``cryptography``, signed by PyJWT (RFC 9449 §4.2)."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwcrypto import jwk as jwcrypto_jwk

from tokenauth.dpop import access_token_hash

URL = "https://api.example/auth/token/"
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


def new_key(alg: str = "ES256", *, rsa_bits: int = 2048) -> Any:
    """A fresh private key that fits ``alg``."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    if alg == "secp256k1":
        return ec.generate_private_key(ec.SECP256K1())
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def public_jwk(private_key: Any) -> dict[str, Any]:
    """The public JWK as jwcrypto writes it (another library than the one under test)."""
    return json.loads(jwcrypto_jwk.JWK.from_pyca(private_key.public_key()).export_public())


def jkt_of(private_key: Any) -> str:
    """The RFC 7638 thumbprint, as jwcrypto computes it."""
    return str(jwcrypto_jwk.JWK.from_pyca(private_key.public_key()).thumbprint())


@dataclass
class Signer:
    """Signs proofs with one key; every claim and header can be replaced or left out."""

    alg: str = "ES256"
    key: Any = None
    jwk: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = new_key(self.alg)
        if not self.jwk:
            self.jwk = public_jwk(self.key)

    @property
    def jkt(self) -> str:
        return jkt_of(self.key)

    def claims(self, **claims: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": "POST",
            "htu": URL,
            "iat": int(NOW.timestamp()),
        }
        return {k: v for k, v in {**base, **claims}.items() if v is not _MISSING}

    def proof(
        self,
        *,
        headers: dict[str, Any] | None = None,
        access_token: str | None = None,
        **claims: Any,
    ) -> str:
        payload = self.claims(**claims)
        if access_token is not None:
            payload.setdefault("ath", access_token_hash(access_token))
        header = {"typ": "dpop+jwt", "jwk": self.jwk, **(headers or {})}
        header = {k: v for k, v in header.items() if v is not _MISSING}
        header.setdefault("typ", None)  # PyJWT writes "JWT" unless told None
        with warnings.catch_warnings():  # RSA-1024, on purpose in the tests that refuse it
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            return jwt.encode(payload, self.key, algorithm=self.alg, headers=header)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_jws(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS put together by hand: for what PyJWT refuses to sign (``alg: none``)."""
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


def signing_input(proof: str) -> bytes:
    return proof.rpartition(".")[0].encode("ascii")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # a claim or header to leave out: ``signer.proof(jti=MISSING)``
_MISSING = MISSING


def proof_for(
    signer: Signer,
    url: str,
    *,
    method: str = "POST",
    access_token: str | None = None,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A proof for a request to ``url`` now (the endpoint and resource tests' clock)."""
    claims = {"htm": method, "htu": url, "iat": int(time.time()), **claims}
    return signer.proof(headers=headers, access_token=access_token, **claims)


def jwt_claims(access_token: str) -> dict[str, Any]:
    """An access token's claims, unverified: what a test reads back (``cnf``)."""
    return dict(jwt.decode(access_token, options={"verify_signature": False}))
