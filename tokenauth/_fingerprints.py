"""Short keyed fingerprints: of a user's password hash, and of a client's network and agent.

Both are ``_digests`` under ``SECRET_KEY``, checked under its fallbacks too, so rotating the
key logs nobody out.
"""

from __future__ import annotations

import hmac

from tokenauth import _digests
from tokenauth._client_info import network

__all__ = [
    "client_binding",
    "client_binding_matches",
    "password_version",
    "password_version_matches",
    "password_versions",
]

_PWV_LENGTH = 10
_PWV_PURPOSE = "tokenauth.pwv"
_BINDING_LENGTH = 32
_BINDING_PURPOSE = "tokenauth.binding"


def password_version(password_hash: str, *, secret: _digests.Secret | None = None) -> str:
    """A few characters that change when the password does; keyed, so never an oracle."""
    return _digests.hex_digest(_PWV_PURPOSE, password_hash, length=_PWV_LENGTH, secret=secret)


def password_versions(password_hash: str) -> list[str]:
    """The fingerprint under ``SECRET_KEY`` and under each fallback."""
    return [password_version(password_hash, secret=key) for key in _digests.secret_keys()]


def password_version_matches(password_hash: str, *fingerprints: str) -> bool:
    """Whether each fingerprint is the hash's under ``SECRET_KEY`` or a fallback.

    Several at once (the family's and the access token's ``pwv``) cost the HMACs once.
    """
    candidates = password_versions(password_hash)
    return all(
        any(hmac.compare_digest(candidate, fingerprint) for candidate in candidates)
        for fingerprint in fingerprints
    )


def client_binding(
    *, ip: str | None, user_agent: str, secret: _digests.Secret | None = None
) -> str:
    """HMAC of the client's network (IPv4 /24, IPv6 /64) and user agent, for the grace window."""
    # Absent or not an address (a forged X-Forwarded-For): "", never another client's network.
    value = f"{network(ip, ipv4_prefix=24) or ''}|{user_agent}"
    return _digests.hex_digest(_BINDING_PURPOSE, value, length=_BINDING_LENGTH, secret=secret)


def client_binding_matches(*, ip: str | None, user_agent: str, binding: str) -> bool:
    return _digests.matches_under_any_key(
        binding, lambda secret: client_binding(ip=ip, user_agent=user_agent, secret=secret)
    )
