"""Encode and verify access tokens; the only caller of PyJWT."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import jwt
from django.core.exceptions import ImproperlyConfigured

from tokenauth.keys import get_key_set
from tokenauth.refresh_tokens import is_public_id
from tokenauth.settings import get_settings

__all__ = [
    "RESERVED_CLAIMS",
    "AccessClaims",
    "InvalidAccessToken",
    "decode_access_token",
    "encode_access_token",
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


class InvalidAccessToken(Exception):
    """The access token is malformed, forged, expired or not an access token."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str  # ``sub``
    family_public_id: str  # ``sid``
    password_version: str  # ``pwv``
    jti: str
    issued_at: int
    expires_at: int
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
) -> str:
    """Sign an RFC 9068-typed access token with the current signing key.

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


def decode_access_token(access_token: str) -> AccessClaims:
    """Verify signature, type and claims; raise ``InvalidAccessToken`` for anything else.

    The key is chosen by ``kid`` and the algorithm is that key's, never the header's.
    """
    if len(access_token) > MAX_ACCESS_TOKEN_LENGTH or not _JWS_SHAPE.fullmatch(access_token):
        raise InvalidAccessToken("malformed token")
    conf = get_settings()
    try:
        kid, typ = _unverified_header(access_token)
        key = get_key_set().by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidAccessToken("unknown key id")
        if not isinstance(typ, str) or typ.lower() not in _TYP:
            raise InvalidAccessToken("not an access token")
        payload = jwt.decode(
            access_token,
            key.verifying_key,
            algorithms=[key.algorithm],
            options={"require": _REQUIRED},
            audience=conf.audience,  # a list: a token for any of its audiences
            issuer=conf.issuer,
            leeway=conf.leeway,
        )
    except (jwt.PyJWTError, TypeError) as exc:
        raise InvalidAccessToken(str(exc) or type(exc).__name__) from exc
    return _claims(payload)


def _unverified_header(access_token: str) -> tuple[object, object]:
    """The JOSE header's ``kid`` and ``typ``, read only to pick the key; PyJWT parses and
    checks the whole header again.

    Not ``jwt.get_unverified_header``, which also decodes the payload and signature: that was
    a third of the verification time (see benchmarks/). Every token a key signs has the same
    header, so its parse is cached.
    """
    return _parse_header(access_token.partition(".")[0])


@functools.lru_cache(maxsize=64)
def _parse_header(segment: str) -> tuple[object, object]:
    """Cached, so it returns an immutable pair, never the dict itself."""
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError) as exc:  # bad base64, UTF-8 or JSON
        raise InvalidAccessToken("malformed header") from exc
    if not isinstance(header, dict):
        raise InvalidAccessToken("malformed header")
    return header.get("kid"), header.get("typ")


def _claims(payload: dict[str, object]) -> AccessClaims:
    sub, sid, pwv = payload.get("sub"), payload.get("sid"), payload.get("pwv")
    jti, iat, exp = payload.get("jti", ""), payload["iat"], payload["exp"]
    if not (isinstance(sub, str) and isinstance(sid, str) and isinstance(pwv, str)):
        raise InvalidAccessToken("sub, sid and pwv must be strings")
    if not is_public_id(sid) or not _SUB.fullmatch(sub):
        raise InvalidAccessToken("malformed sub or sid")
    if not (isinstance(jti, str) and isinstance(iat, int) and isinstance(exp, int)):
        raise InvalidAccessToken("malformed claims")
    return AccessClaims(
        user_id=sub,
        family_public_id=sid,
        password_version=pwv,
        jti=jti,
        issued_at=iat,
        expires_at=exp,
        extra=MappingProxyType({k: v for k, v in payload.items() if k not in RESERVED_CLAIMS}),
    )
