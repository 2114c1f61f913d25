"""Encode and verify access tokens; the only caller of PyJWT."""

from __future__ import annotations

import base64
import functools
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, cast

import jwt
from django.core.exceptions import ImproperlyConfigured
from jwt.algorithms import Algorithm

from tokenauth._exceptions import InvalidAccessToken
from tokenauth._refresh_tokens import is_public_id
from tokenauth.keys import KeySet, get_key_set
from tokenauth.settings import TokenAuthSettings, get_settings

__all__ = [
    "RESERVED_CLAIMS",
    "AccessClaims",
    "InvalidAccessToken",
    "decode_access_token",
    "encode_access_token",
    "unusable_keys",
]

# Our tokens are a few hundred bytes; anything much longer is refused before any parsing.
MAX_ACCESS_TOKEN_LENGTH = 4096
_JWS_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)
_TYP = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §4
_REQUIRED = ["exp", "iat", "sub", "sid"]
_SUB = re.compile(r"[\x21-\x7e]{1,64}", re.ASCII)  # a primary key as text: printable, short
# Ours, the JWT registered claims we use, and the JOSE header's names (DESIGN §9): a project's
# ACCESS_TOKEN_CLAIMS may add claims, never replace one of these.
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "pwv", "cnf", "typ", "kid", "alg"}
)
_NO_EXTRA: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True)
class AccessClaims:
    user_id: str  # ``sub``
    family_public_id: str  # ``sid``
    password_version: str  # ``pwv``
    jti: str
    issued_at: int
    expires_at: int
    # ``cnf.jkt`` (RFC 7800, RFC 9449 §6): the DPoP key the token is bound to; None: bearer.
    dpop_jkt: str | None = None
    # The project's ACCESS_TOKEN_CLAIMS, as the token carries them: read-only.
    extra: Mapping[str, object] = field(default_factory=lambda: _NO_EXTRA, hash=False)


def encode_access_token(
    *,
    user_id: str,
    family_public_id: str,
    password_version: str,
    now: datetime,
    expires_at: datetime,
    extra_claims: Mapping[str, object] = _NO_EXTRA,
    dpop_jkt: str | None = None,
) -> str:
    """Sign an RFC 9068-typed access token with the current signing key; with ``dpop_jkt``
    it carries ``cnf: {"jkt": ...}`` (bound to that DPoP key, RFC 9449 §6.1).

    ``extra_claims`` are added, never in place of a reserved one (``ValueError``); a token
    too long for ``decode_access_token`` to accept raises ``ImproperlyConfigured``.
    """
    if not RESERVED_CLAIMS.isdisjoint(extra_claims):
        raise ValueError(f"reserved claims: {sorted(RESERVED_CLAIMS.intersection(extra_claims))}")
    conf = get_settings()
    key = get_key_set().signing
    claims: dict[str, object] = {
        **extra_claims,
        "sub": user_id,
        "sid": family_public_id,
        "pwv": password_version,
        "jti": secrets.token_urlsafe(12),
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    if dpop_jkt is not None:
        claims["cnf"] = {"jkt": dpop_jkt}
    if conf.issuer is not None:
        claims["iss"] = conf.issuer
    if conf.audience is not None:  # RFC 7519 §4.1.3: one string, or a list of them
        aud = conf.audience
        claims["aud"] = aud if isinstance(aud, str) else list(aud)
    access_token = jwt.encode(
        claims,
        key.signing_key,
        algorithm=key.algorithm,
        headers={"typ": "at+jwt", "kid": key.kid},
    )
    if len(access_token) > MAX_ACCESS_TOKEN_LENGTH:  # every request would get a 401
        raise ImproperlyConfigured(
            f"An access token of {len(access_token)} characters is over the "
            f"{MAX_ACCESS_TOKEN_LENGTH} accepted: TOKENAUTH['ACCESS_TOKEN_CLAIMS'] adds too much."
        )
    return access_token


def unusable_keys(key_set: KeySet) -> list[str]:
    """What PyJWT would refuse in ``key_set`` (an HS secret that looks like a JWK or DER key,
    say): E008 at check time, rather than a 500 at the first mint or a key silently dropped."""
    problems = []
    for key in key_set.by_kid.values():
        for role, material in (("verifying", key.verifying_key), ("signing", key.signing_key)):
            if material is None:
                continue
            try:
                jwt.get_algorithm_by_name(key.algorithm).prepare_key(material)
            except (jwt.PyJWTError, TypeError, ValueError) as exc:
                problems.append(f"the {role} key {key.kid!r} ({key.algorithm}) is refused: {exc}")
                break  # one problem per key: an HS secret both signs and verifies
    return problems


def decode_access_token(access_token: str) -> AccessClaims:
    """Verify signature, type and claims; raise ``InvalidAccessToken`` for anything else.

    The key is chosen by ``kid`` and the algorithm is that key's, never the header's.
    """
    if len(access_token) > MAX_ACCESS_TOKEN_LENGTH or not _JWS_SHAPE.fullmatch(access_token):
        raise InvalidAccessToken("malformed token")
    decoder = _current_decoder()
    header_segment, payload_segment, signature_segment = access_token.split(".")
    kid, typ, alg = _parse_header(header_segment)
    verifier = decoder.verifiers.get(kid) if isinstance(kid, str) else None
    if verifier is None:
        raise InvalidAccessToken("unknown key id")
    if not isinstance(typ, str) or typ.lower() not in _TYP:
        raise InvalidAccessToken("not an access token")
    if alg != verifier.algorithm_name:  # RFC 8725 §3.1: the key's algorithm, never the header's
        raise InvalidAccessToken("The specified alg value is not allowed")
    signature = _segment(signature_segment)
    signing_input = access_token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    try:
        valid = verifier.algorithm.verify(signing_input, verifier.prepared_key, signature)
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise InvalidAccessToken(str(exc) or type(exc).__name__) from exc
    if not valid:
        raise InvalidAccessToken("Signature verification failed")
    payload = _json_object(_segment(payload_segment))
    decoder.check_registered_claims(payload)
    return _claims(payload)


@dataclass(frozen=True)
class _Verifier:
    """One verifying key as PyJWT's algorithm object wants it, prepared once, not per token."""

    algorithm_name: str
    algorithm: Algorithm
    prepared_key: Any = field(repr=False)  # an HS* key is a secret


@dataclass(frozen=True)
class _Decoder:
    """What verification needs from the settings and the keys, worked out when either changes.

    Built again whenever ``get_settings()`` or ``get_key_set()`` hands out a new object (the
    settings reload on ``setting_changed``, the key set with them or ``SECRET_KEY``), so
    ``override_settings`` and key rotation apply at once.
    """

    conf: TokenAuthSettings = field(repr=False)  # SIGNING_KEY is in its repr
    key_set: KeySet = field(repr=False)
    verifiers: dict[str, _Verifier] = field(repr=False)
    issuer: str | None
    audience: tuple[str, ...] | None
    leeway: float

    @classmethod
    def build(cls, conf: TokenAuthSettings, key_set: KeySet) -> _Decoder:
        verifiers = {}
        for kid, key in key_set.by_kid.items():
            try:
                algorithm = jwt.get_algorithm_by_name(key.algorithm)
                prepared_key = algorithm.prepare_key(key.verifying_key)
            except (jwt.PyJWTError, NotImplementedError):  # jwt.decode refused these per token:
                continue  # so are this key's tokens (unknown key id)
            verifiers[kid] = _Verifier(key.algorithm, algorithm, prepared_key)
        audience = (conf.audience,) if isinstance(conf.audience, str) else conf.audience
        return cls(conf, key_set, verifiers, conf.issuer, audience, conf.leeway.total_seconds())

    def check_registered_claims(self, payload: dict[str, object]) -> None:
        """RFC 7519 §4.1's checks, as ``jwt.decode`` makes them: required claims, ``iat``,
        ``nbf`` and ``exp`` with the leeway, then ``iss`` and ``aud`` when configured."""
        for claim in _REQUIRED:
            if payload.get(claim) is None:
                raise InvalidAccessToken(f'Token is missing the "{claim}" claim')
        now = time.time()
        if _numeric_date(payload, "iat") > now + self.leeway:
            raise InvalidAccessToken("The token is not yet valid (iat)")
        if "nbf" in payload and _numeric_date(payload, "nbf") > now + self.leeway:
            raise InvalidAccessToken("The token is not yet valid (nbf)")
        if _numeric_date(payload, "exp") <= now - self.leeway:
            raise InvalidAccessToken("Signature has expired")
        if self.issuer is not None and payload.get("iss") != self.issuer:
            raise InvalidAccessToken("Invalid issuer")
        aud = payload.get("aud")
        if self.audience is None:
            if aud:  # a token for some audience, and we are none
                raise InvalidAccessToken("Invalid audience")
            return
        audiences = [aud] if isinstance(aud, str) else aud
        if not (aud and isinstance(audiences, list) and all(isinstance(a, str) for a in audiences)):
            raise InvalidAccessToken("Invalid audience")
        if not any(audience in audiences for audience in self.audience):
            raise InvalidAccessToken("Audience doesn't match")


_decoder: _Decoder | None = None


def _current_decoder() -> _Decoder:
    global _decoder
    conf, key_set = get_settings(), get_key_set()
    decoder = _decoder
    if decoder is None or decoder.conf is not conf or decoder.key_set is not key_set:
        decoder = _decoder = _Decoder.build(conf, key_set)  # one assignment: thread-safe
    return decoder


def _numeric_date(payload: dict[str, object], claim: str) -> int:
    try:
        return int(cast(Any, payload[claim]))  # as PyJWT: anything int() takes; _claims is stricter
    except (ValueError, TypeError, OverflowError):
        raise InvalidAccessToken(f"{claim} must be an integer") from None


def _segment(segment: str) -> bytes:
    """RFC 7515 §2 base64url, strictly: no padding (``_JWS_SHAPE``) and one spelling only, so
    no two token strings carry the same signature."""
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:  # binascii.Error: a length no encoding has
        raise InvalidAccessToken("malformed token") from None
    if base64.urlsafe_b64encode(data).rstrip(b"=") != segment.encode("ascii"):
        raise InvalidAccessToken("malformed token")
    return data


def _json_object(data: bytes) -> dict[str, object]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON
        raise InvalidAccessToken("malformed token") from exc
    if not isinstance(value, dict):
        raise InvalidAccessToken("malformed token")
    return value


@functools.lru_cache(maxsize=64)
def _parse_header(segment: str) -> tuple[object, object, object]:
    """The JOSE header's ``kid``, ``typ`` and ``alg``. Every token a key signs has the same
    header, so its parse is cached (an immutable triple, never the dict itself)."""
    header = _json_object(_segment(segment))
    if "crit" in header or header.get("b64", True) is not True:
        raise InvalidAccessToken("unsupported header")  # RFC 7515 §4.1.11: we understand none
    return header.get("kid"), header.get("typ"), header.get("alg")


def _claims(payload: dict[str, object]) -> AccessClaims:
    sub, sid, pwv = payload.get("sub"), payload.get("sid"), payload.get("pwv")
    jti, iat, exp = payload.get("jti", ""), payload["iat"], payload["exp"]
    if not (isinstance(sub, str) and isinstance(sid, str) and isinstance(pwv, str)):
        raise InvalidAccessToken("sub, sid and pwv must be strings")
    if not is_public_id(sid) or not _SUB.fullmatch(sub):
        raise InvalidAccessToken("malformed sub or sid")
    if not (isinstance(jti, str) and type(iat) is int and type(exp) is int):  # no bools
        raise InvalidAccessToken("malformed claims")
    # The non-reserved claims (``AccessClaims.extra``) are collected here, from ``payload``.
    return AccessClaims(
        dpop_jkt=_confirmation_jkt(payload),
        user_id=sub,
        family_public_id=sid,
        password_version=pwv,
        jti=jti,
        issued_at=iat,
        expires_at=exp,
        extra=MappingProxyType({k: v for k, v in payload.items() if k not in RESERVED_CLAIMS}),
    )


def _confirmation_jkt(payload: dict[str, object]) -> str | None:
    """``cnf.jkt``, or None without ``cnf``; any other ``cnf`` shape is refused (a token we
    did not sign that way, and one that must never pass for a bearer token)."""
    if "cnf" not in payload:
        return None
    cnf = payload["cnf"]
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not 0 < len(jkt) <= 64:
        raise InvalidAccessToken("malformed cnf")
    return jkt
