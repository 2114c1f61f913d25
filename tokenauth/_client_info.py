"""What a client tells about itself (IP, user agent), made safe to store and log."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["Client", "clean_ip", "clean_user_agent", "network"]


@dataclass(frozen=True)
class Client:
    """Who presents a token: the IP and user agent as the request gave them (None: unknown).

    Built once per service call; ``stored_ip`` and ``stored_user_agent`` are what a row keeps.
    """

    ip: str | None
    user_agent: str

    @property
    def stored_ip(self) -> str | None:
        return clean_ip(self.ip)

    @property
    def stored_user_agent(self) -> str:
        return clean_user_agent(self.user_agent)


def clean_ip(ip: str | None) -> str | None:
    """The address, or None for anything that is not one (it is stored as NULL).

    An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, what a dual-stack socket reports for
    IPv4 clients) is the IPv4 address; an IPv6 zone (``%eth0``) is dropped.
    """
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip().partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def network(ip: str | None, *, ipv4_prefix: int = 32) -> str | None:
    """The client's network: the IPv4 address (or its ``/ipv4_prefix``) or the IPv6 /64.

    One IPv6 subscriber holds a whole /64, so a single address identifies nobody. An IPv4
    client carried in an IPv6 address (NAT64, SIIT, 6to4, Teredo) is its IPv4 address: else
    every client of one translator would share a /64, and one 6to4 host hold 65,536 of them.
    """
    cleaned = clean_ip(ip)
    if cleaned is None:
        return None
    address = _embedded_ipv4(ipaddress.ip_address(cleaned))
    prefix = ipv4_prefix if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 IPv4-translated addresses


def _embedded_ipv4(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address in _NAT64 or address in _SIIT:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client)
    return address


def clean_user_agent(user_agent: str) -> str:
    """Cut to the column's 255 characters, without NUL or lone surrogates (PostgreSQL refuses)."""
    kept = (c for c in user_agent[:1024] if c != "\x00" and not "\ud800" <= c <= "\udfff")
    return "".join(kept)[:255]
