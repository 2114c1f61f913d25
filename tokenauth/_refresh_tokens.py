"""The refresh-token format: ``<prefix><public_id>.<generation>.<mac>``, and its MAC."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from tokenauth import _digests

__all__ = [
    "MAX_GENERATION",
    "PREFIX",
    "ParsedRefreshToken",
    "is_public_id",
    "make_refresh_token",
    "new_family_secret",
    "new_public_id",
    "parse",
    "verify",
]

# A fixed prefix lets secret scanners (GitHub, GitLab, trufflehog) recognise a leaked token.
PREFIX = "tkrt_"
MAX_GENERATION = 9_999_999_999  # at most 10 decimal digits
_SHAPE = re.compile(
    r"tkrt_(?P<public_id>[A-Za-z0-9_-]{22})\.(?P<generation>0|[1-9][0-9]{0,9})\.(?P<mac>[A-Za-z0-9_-]{43})",
    re.ASCII,
)
_MAC_SALT = "tokenauth._refresh_tokens.mac"
_ALPHANUMERIC = string.ascii_letters + string.digits
_URL_SAFE = _ALPHANUMERIC + "-_"
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{22}", re.ASCII)


@dataclass(frozen=True)
class ParsedRefreshToken:
    public_id: str
    generation: int
    mac: str

    def __repr__(self) -> str:  # never show the MAC: with public_id and generation it IS the token
        return f"ParsedRefreshToken(public_id={self.public_id!r}, generation={self.generation})"


def new_public_id() -> str:
    """22 URL-safe characters, about 132 random bits, never starting with "-" or "_"
    (so ``tokenauth_revoke --family <id>`` never mistakes one for an option)."""
    first = secrets.choice(_ALPHANUMERIC)
    return first + "".join(secrets.choice(_URL_SAFE) for _ in range(21))


def is_public_id(value: str) -> bool:
    """Whether ``value`` is shaped like a family's public id (the ``sid`` claim)."""
    return _PUBLIC_ID.fullmatch(value) is not None


def new_family_secret() -> str:
    return secrets.token_hex(32)  # 256 bits


def parse(refresh_token: str) -> ParsedRefreshToken | None:
    """The token's parts, or None when it is not shaped like one of ours."""
    match = _SHAPE.fullmatch(refresh_token) if len(refresh_token) < 128 else None
    if match is None:
        return None
    return ParsedRefreshToken(
        public_id=match["public_id"], generation=int(match["generation"]), mac=match["mac"]
    )


def _mac(
    family_secret: str, public_id: str, generation: int, *, secret: _digests.Secret | None
) -> str:
    value = f"{family_secret}.{public_id}.{generation}"
    return _digests.urlsafe_digest(_MAC_SALT, value, secret=secret)


def make_refresh_token(*, family_secret: str, public_id: str, generation: int) -> str:
    """The token of one generation of a family, under the current ``SECRET_KEY``."""
    mac = _mac(family_secret, public_id, generation, secret=None)
    return f"{PREFIX}{public_id}.{generation}.{mac}"


def verify(token: ParsedRefreshToken, *, family_secret: str) -> bool:
    """Whether the token's MAC is genuine under ``SECRET_KEY`` or one of its fallbacks.

    Costs one HMAC per key whatever the generation: a forged token buys no CPU.
    """
    return _digests.matches_under_any_key(
        token.mac,
        lambda secret: _mac(family_secret, token.public_id, token.generation, secret=secret),
    )
