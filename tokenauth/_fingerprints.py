"""Short keyed fingerprints: of a user's password hash, and of a client's network and agent.

Both are HMACs under ``SECRET_KEY``; both are checked under its fallbacks too, so rotating
the key logs nobody out.
"""

from __future__ import annotations

import hmac

from django.conf import settings as django_settings
from django.utils.crypto import salted_hmac

from tokenauth._client_info import network

__all__ = [
    "client_binding",
    "client_binding_matches",
    "password_fingerprint",
    "password_fingerprint_matches",
    "password_fingerprints",
]

_PWV_LENGTH = 10


def _secrets() -> list[str | bytes]:
    return [django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", [])]


def password_fingerprint(password_hash: str, *, secret: str | bytes | None = None) -> str:
    """A few characters that change when the password does; keyed, so never an oracle."""
    digest = salted_hmac(
        "tokenauth.pwv", password_hash, secret=secret, algorithm="sha256"
    ).hexdigest()
    return digest[:_PWV_LENGTH]


def password_fingerprints(password_hash: str) -> list[str]:
    """The fingerprint under ``SECRET_KEY`` and under each fallback."""
    return [password_fingerprint(password_hash, secret=secret) for secret in _secrets()]


def password_fingerprint_matches(password_hash: str, *fingerprints: str) -> bool:
    """Whether each fingerprint is the hash's under ``SECRET_KEY`` or a fallback.

    Several at once (the family's and the access token's ``pwv``) cost the HMACs once.
    """
    candidates = password_fingerprints(password_hash)
    return all(
        any(hmac.compare_digest(candidate, fingerprint) for candidate in candidates)
        for fingerprint in fingerprints
    )


def client_binding(*, ip: str | None, user_agent: str, secret: str | bytes | None = None) -> str:
    """HMAC of the client's network (IPv4 /24, IPv6 /64) and user agent, for the grace window."""
    # Absent or not an address (a forged X-Forwarded-For): "", never another client's network.
    value = f"{network(ip, ipv4_prefix=24) or ''}|{user_agent}"
    return salted_hmac("tokenauth.binding", value, secret=secret, algorithm="sha256").hexdigest()[
        :32
    ]


def client_binding_matches(*, ip: str | None, user_agent: str, binding: str) -> bool:
    return any(
        hmac.compare_digest(client_binding(ip=ip, user_agent=user_agent, secret=secret), binding)
        for secret in _secrets()
    )
