"""What a client tells about itself (IP, user agent), made safe to store and log."""

from __future__ import annotations

import ipaddress

__all__ = ["clean_ip", "clean_user_agent"]


def clean_ip(ip: str | None) -> str | None:
    """The address, or None for anything that is not one (it is stored as NULL)."""
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None


def clean_user_agent(user_agent: str) -> str:
    """Cut to the column's 255 characters, without NUL or lone surrogates (PostgreSQL refuses)."""
    kept = (c for c in user_agent[:1024] if c != "\x00" and not "\ud800" <= c <= "\udfff")
    return "".join(kept)[:255]
