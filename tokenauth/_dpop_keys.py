"""A DPoP proof's ``jwk``: refused unless a public key that fits the proof's ``alg``; its
RFC 7638 thumbprint (the ``jkt``) and PyJWT's algorithm object to verify with."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import Algorithm

__all__ = ["InvalidProofKey", "ProofKey", "proof_key", "thumbprint"]

MIN_RSA_BITS = 2048  # RFC 7518 §3.3, as for our own RSA signing keys (tokenauth.keys)
# Every real key uses 65537. A 2000-bit exponent makes each verify cost 40 times as much: a
# few KB of header would buy an attacker milliseconds of CPU. Go's crypto/rsa caps it alike.
MAX_RSA_EXPONENT = 2**32

# alg → (kty, crv or None, the RFC 7638 required members besides kty, coordinate bytes).
_KEY_TYPES: dict[str, tuple[str, str | None, tuple[str, ...], int | None]] = {
    "ES256": ("EC", "P-256", ("crv", "x", "y"), 32),
    "ES384": ("EC", "P-384", ("crv", "x", "y"), 48),
    "EdDSA": ("OKP", "Ed25519", ("crv", "x"), 32),
    **{
        f"{family}{bits}": ("RSA", None, ("e", "n"), None)
        for family in ("RS", "PS")
        for bits in (256, 384, 512)
    },
}
# Members of a private or symmetric JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a
# client that puts its private key in the header has lost it, and we will not sign for it.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class InvalidProofKey(ValueError):
    """The ``jwk`` is no public key of the type the proof's ``alg`` needs."""


@dataclass(frozen=True)
class ProofKey:
    jkt: str  # RFC 7638 SHA-256 thumbprint, base64url
    algorithm: Algorithm = field(repr=False)
    public_key: Any = field(repr=False)  # a ``cryptography`` public key

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        return bool(self.algorithm.verify(signing_input, self.public_key, signature))


@dataclass(frozen=True)
class _ECProofKey(ProofKey):
    """ES256/ES384: what PyJWT's ``ECAlgorithm.verify`` does (a JWS signature is R || S, which
    ``cryptography`` takes as DER), with its ECDSA parameters built once per key instead of
    on every proof (about 3 µs of each proof's check)."""

    ecdsa: Any = field(default=None, repr=False)  # ``ec.ECDSA(hash)``
    size: int = 0  # octets of R and of S

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        if len(signature) != 2 * self.size:
            return False
        r = int.from_bytes(signature[: self.size], "big")
        s = int.from_bytes(signature[self.size :], "big")
        try:
            self.public_key.verify(encode_dss_signature(r, s), signing_input, self.ecdsa)
        except InvalidSignature:
            return False
        return True


def proof_key(alg: str, jwk: object) -> ProofKey:
    """The key of a proof signed with ``alg`` (one of ``PROOF_ALGORITHMS``); raises
    ``InvalidProofKey`` for a private member, another key type or curve, a short RSA key,
    a member that is no canonical base64url string, or a point off its curve."""
    if not isinstance(jwk, Mapping):
        raise InvalidProofKey("the jwk header is not a JSON object")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        raise InvalidProofKey("the jwk holds a private key")
    kty, crv, names, size = _KEY_TYPES[alg]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise InvalidProofKey(f"{alg} needs a {crv or kty} key")
    if jwk.get("alg", alg) != alg:  # RFC 7517 §4.4: a key meant for another algorithm
        raise InvalidProofKey("the jwk is for another algorithm")
    members = [("kty", kty)] if crv is None else [("crv", crv), ("kty", kty)]
    for name in names:
        if name == "crv":
            continue
        value = jwk.get(name)
        data = _canonical_base64url(value)
        if not isinstance(value, str) or data is None or (size and len(data) != size):
            raise InvalidProofKey(f"the jwk's {name!r} is malformed")
        if size is None and data[:1] == b"\0":  # RFC 7518 §6.3.1: no leading zero octets
            raise InvalidProofKey(f"the jwk's {name!r} is malformed")
        members.append((name, value))
    return _load(alg, tuple(sorted(members)))


def thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638 §3: SHA-256 of the key's required members, sorted, without whitespace."""
    canonical = json.dumps(dict(members), sort_keys=True, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode("ascii")).digest())


# One client signs every proof with one key: its parse, point check and thumbprint are kept.
@functools.lru_cache(maxsize=512)
def _load(alg: str, members: tuple[tuple[str, str], ...]) -> ProofKey:
    algorithm = _algorithm(alg)
    try:  # the required members alone: PyJWT never sees anything private
        public_key = algorithm.from_jwk(dict(members))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:  # a point off the curve, say
        raise InvalidProofKey("the jwk is no valid public key") from exc
    _check_type(alg, public_key)
    jkt = thumbprint(dict(members))
    if alg in ("ES256", "ES384"):
        from cryptography.hazmat.primitives.asymmetric import ec

        ecdsa = ec.ECDSA(algorithm.hash_alg())  # type: ignore[attr-defined]
        size = _KEY_TYPES[alg][3] or 0
        return _ECProofKey(jkt, algorithm, public_key, ecdsa=ecdsa, size=size)
    return ProofKey(jkt=jkt, algorithm=algorithm, public_key=public_key)


def _check_type(alg: str, public_key: object) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if alg.startswith(("RS", "PS")):
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise InvalidProofKey(f"{alg} needs an RSA public key")
        if public_key.key_size < MIN_RSA_BITS:
            raise InvalidProofKey(f"{alg} needs an RSA key of {MIN_RSA_BITS} bits or more")
        if public_key.public_numbers().e > MAX_RSA_EXPONENT:
            raise InvalidProofKey("the RSA public exponent is too large")
    elif alg == "EdDSA":
        if not isinstance(public_key, ed25519.Ed25519PublicKey):
            raise InvalidProofKey("EdDSA needs an Ed25519 public key")
    else:
        curve = ec.SECP256R1 if alg == "ES256" else ec.SECP384R1
        if not (
            isinstance(public_key, ec.EllipticCurvePublicKey)
            and isinstance(public_key.curve, curve)
        ):
            raise InvalidProofKey(f"{alg} needs a public key on {curve.name}")


@functools.cache
def _algorithm(alg: str) -> Algorithm:
    return jwt.get_algorithm_by_name(alg)  # builds PyJWT's whole table each call: once


def _canonical_base64url(value: object) -> bytes | None:
    """RFC 7515 §2: unpadded base64url, spelt the one way that encodes its octets (else two
    spellings of one key would have two thumbprints)."""
    if not isinstance(value, str) or not value.isascii():
        return None
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return None
    return data if data and _b64(data) == value else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
