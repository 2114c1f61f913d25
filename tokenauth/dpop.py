"""Check DPoP proofs (RFC 9449 §4.3, DESIGN §8): every check, in one call, for the HTTP layer.

The key's details live in ``_dpop_keys``, the ``htu`` normal form in ``_uris``, nonces in
``_dpop_nonces`` and the ``jti`` record in ``_dpop_replay``; this module puts them in order.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tokenauth._dpop_keys import InvalidProofKey, ProofKey, proof_key, thumbprint
from tokenauth._dpop_nonces import current_nonce, is_current_nonce
from tokenauth._dpop_replay import ReplayCacheUnavailable, first_use
from tokenauth._uris import normalised_uri
from tokenauth.settings import TokenAuthSettings, get_settings

__all__ = [
    "MAX_PROOF_LENGTH",
    "DPoPProof",
    "DPoPProofError",
    "ReplayCacheUnavailable",
    "access_token_hash",
    "check_proof",
    "current_nonce",
    "thumbprint",
]

logger = logging.getLogger(__name__)

# A proof with an RSA-4096 key, a 256-character jti and a long URL is under 4 KB; anything
# much longer is refused before it is decoded.
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256  # DESIGN §8
_JWS_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)
_TYP = frozenset({"dpop+jwt", "application/dpop+jwt"})  # RFC 7515 §4.1.9: the same type

_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_BASE64URL_VALUES = {character: value for value, character in enumerate(_BASE64URL)}
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_", b"+/")
# By length mod 4: the low bits of the last character that encode no octet (-1: no length).
_SPARE_BITS = (0, -1, 0b1111, 0b11)

ErrorCode = Literal["invalid_dpop_proof", "use_dpop_nonce"]


class DPoPProofError(Exception):
    """A proof refused: ``error`` and ``description`` are what the client is told (RFC 9449
    §5, §7.1); with ``use_dpop_nonce``, ``nonce`` is the value to send in ``DPoP-Nonce``."""

    def __init__(
        self, description: str, *, error: ErrorCode = "invalid_dpop_proof", nonce: str = ""
    ) -> None:
        super().__init__(description)
        self.error: ErrorCode = error
        self.description = description
        self.nonce = nonce


@dataclass(frozen=True)
class DPoPProof:
    """A proof that passed every check; ``jkt`` is its key's RFC 7638 thumbprint."""

    jkt: str
    jti: str
    issued_at: float  # ``iat``, as the client wrote it


def access_token_hash(access_token: str) -> str:
    """The ``ath`` a proof sent with ``access_token`` must carry (RFC 9449 §4.2)."""
    digest = hashlib.sha256(access_token.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: str | None,
    expected_jkt: str | None,
    require_nonce: bool,
    now: datetime,
) -> DPoPProof:
    """Check the ``DPoP`` header value ``proof`` for a ``method`` request to ``url``
    (``request.build_absolute_uri()``), and record its ``jti``.

    ``access_token``: the one the request presents (its ``ath`` is required); ``expected_jkt``:
    the key the token or family is bound to; ``require_nonce``: a token endpoint with
    ``DPOP_NONCE`` on. Raises ``DPoPProofError``, or ``ReplayCacheUnavailable`` (the cache is
    unreachable and ``CACHE_FAILURE`` is "closed"); nothing else escapes, whatever ``proof`` is.
    """
    conf = get_settings()
    header_segment, payload_segment, signature_segment = _segments(proof)
    key = _header_key(header_segment, conf.dpop_algorithms)
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    if not key.verify(signing_input, _decoded(signature_segment)):
        raise _refused("The DPoP proof's signature does not verify with its jwk.")
    claims = _json_object(payload_segment)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise _refused(f"The DPoP proof needs a jti of 1 to {MAX_JTI_LENGTH} characters.")
    _check_request(claims, method, url)
    issued_at = _check_iat(claims, conf, now)
    _check_binding(claims, key, access_token, expected_jkt)
    if require_nonce and not is_current_nonce(claims.get("nonce"), now):
        raise DPoPProofError(
            "Authorization server requires nonce in DPoP proof.",
            error="use_dpop_nonce",
            nonce=current_nonce(now),
        )
    # Last: a proof that fails any check above is not worth a cache write. It must be kept
    # for as long as its iat stays acceptable.
    lifetime = issued_at + (conf.dpop_proof_max_age + conf.leeway).total_seconds() - now.timestamp()
    if not first_use(jkt=key.jkt, jti=jti, seconds=lifetime + 1):
        logger.warning("tokenauth: DPoP proof replayed (jkt %s)", key.jkt)
        raise _refused("The DPoP proof has been used before.")
    return DPoPProof(jkt=key.jkt, jti=jti, issued_at=issued_at)


def _refused(description: str) -> DPoPProofError:
    logger.debug("tokenauth: DPoP proof refused: %s", description)
    return DPoPProofError(description)


def _segments(proof: object) -> tuple[str, str, str]:
    if not isinstance(proof, str):
        raise _refused("The DPoP header is malformed.")
    if len(proof) > MAX_PROOF_LENGTH:
        raise _refused(f"The DPoP proof is longer than {MAX_PROOF_LENGTH} characters.")
    proof = proof.strip(" \t")
    if "," in proof:  # WSGI and ASGI servers join repeated headers with commas
        raise _refused("Exactly one DPoP header is allowed.")
    if not _JWS_SHAPE.fullmatch(proof):
        raise _refused("The DPoP proof is no compact JWS.")
    header, payload, signature = proof.split(".")
    return header, payload, signature


def _decoded(segment: str) -> bytes:
    """RFC 7515 §2 base64url, strictly: one spelling only (the shape regex let in only its
    alphabet)."""
    spare_bits = _SPARE_BITS[len(segment) % 4]
    if spare_bits < 0 or _BASE64URL_VALUES[segment[-1]] & spare_bits:
        # 4n + 1 characters is no encoding; set spare bits would make a second spelling
        raise _refused("The DPoP proof is no compact JWS.")
    return binascii.a2b_base64(segment.encode("ascii").translate(_TO_STANDARD_ALPHABET) + b"==")


def _json_object(segment: str) -> dict[str, object]:
    try:
        value = json.loads(_decoded(segment).decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8 or JSON
        value = None
    if not isinstance(value, dict):
        raise _refused("The DPoP proof is no compact JWS of JSON objects.")
    return value


# A client sends the same header (typ, alg, jwk) with every proof: its parse and key are kept,
# so a proof costs one signature check and one cache add. Only keys that passed are kept.
@functools.lru_cache(maxsize=256)
def _header_key(header_segment: str, algorithms: tuple[str, ...]) -> ProofKey:
    header = _json_object(header_segment)
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _TYP:
        raise _refused("The DPoP proof's typ must be dpop+jwt.")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise _refused(f"The DPoP proof's alg must be one of {' '.join(algorithms)}.")
    if "crit" in header or header.get("b64", True) is not True:
        raise _refused("The DPoP proof has a header parameter we do not understand.")
    if "jwk" not in header:
        raise _refused("The DPoP proof has no jwk header.")
    try:
        return proof_key(alg, header["jwk"])
    except InvalidProofKey as exc:
        raise _refused(f"The DPoP proof's jwk is refused: {exc}.") from exc


def _check_request(claims: dict[str, object], method: str, url: str) -> None:
    if claims.get("htm") != method:  # RFC 9110 §9.1: methods are case-sensitive
        raise _refused("The DPoP proof's htm is not this request's method.")
    htu = claims.get("htu")
    expected = normalised_uri(url)
    # RFC 9449 §4.3 check 9: "ignoring any query and fragment parts"
    if not isinstance(htu, str) or expected is None or normalised_uri(htu) != expected:
        raise _refused("The DPoP proof's htu is not this request's URI.")


def _check_iat(claims: dict[str, object], conf: TokenAuthSettings, now: datetime) -> float:
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not _finite(iat):
        raise _refused("The DPoP proof needs an iat.")
    leeway = conf.leeway.total_seconds()
    timestamp = now.timestamp()
    if iat < timestamp - conf.dpop_proof_max_age.total_seconds() - leeway:
        raise _refused("The DPoP proof is too old.")
    # Compared at NumericDate's resolution of one second: a client clock a fraction of a
    # second ahead writes the next second.
    if iat > math.ceil(timestamp) + leeway:
        raise _refused("The DPoP proof is issued in the future.")
    return float(iat)


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # a JSON integer may be any size: 10**400 is no float
        return False


def _check_binding(
    claims: dict[str, object], key: ProofKey, access_token: str | None, expected_jkt: str | None
) -> None:
    if access_token is not None:  # RFC 9449 §4.3 check 12
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath.encode("utf-8", "surrogatepass"), access_token_hash(access_token).encode()
        ):
            raise _refused("The DPoP proof's ath does not match the access token.")
    if expected_jkt is not None and not hmac.compare_digest(
        key.jkt.encode(), expected_jkt.encode("utf-8", "surrogatepass")
    ):
        raise _refused("The DPoP proof is signed by another key than the token's own.")
