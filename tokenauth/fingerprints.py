"""Short keyed fingerprints: of a user's password hash, and of a client's network and agent."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings as django_settings
from django.utils.crypto import salted_hmac

__all__ = ["client_binding", "password_fingerprint", "password_fingerprint_matches"]

_PWV_LENGTH = 10


def _secrets() -> list[str | bytes]:
    return [django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", [])]


def password_fingerprint(password_hash: str, *, secret: str | bytes | None = None) -> str:
    """A few characters that change when the password does; keyed, so never an oracle."""
    digest = salted_hmac("tokenauth.pwv", password_hash, secret=secret).hexdigest()
    return digest[:_PWV_LENGTH]


def password_fingerprint_matches(password_hash: str, fingerprint: str) -> bool:
    """Checked under ``SECRET_KEY`` and its fallbacks, so rotating the key logs nobody out."""
    return any(
        hmac.compare_digest(password_fingerprint(password_hash, secret=secret), fingerprint)
        for secret in _secrets()
    )


def _network(ip: str | None) -> str:
    if not ip:
        return ""
    address = ipaddress.ip_address(ip)
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def client_binding(*, ip: str | None, user_agent: str) -> str:
    """HMAC of the client's network (IPv4 /24, IPv6 /64) and user agent, for the grace window."""
    value = f"{_network(ip)}|{user_agent}"
    return salted_hmac("tokenauth.binding", value).hexdigest()[:32]
