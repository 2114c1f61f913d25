"""Parse ``TOKENAUTH['REFRESH_COOKIE']`` into cookie attributes that browsers keep (E007)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast

__all__ = ["CookieSettings", "parse_cookie"]

SameSite = Literal["Strict", "Lax", "None"]

_KEYS = frozenset({"name", "path", "samesite", "secure", "domain"})
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265 token
_ATTRIBUTE = re.compile(r"[^;,\s\x00-\x1f\x7f]+")  # no separators, spaces, controls
_LABEL = "TOKENAUTH['REFRESH_COOKIE']"
_SAMESITE: dict[str, SameSite] = {"strict": "Strict", "lax": "Lax", "none": "None"}


@dataclass(frozen=True)
class CookieSettings:
    name: str | None  # None: the default, which depends on ``secure``
    path: str | None  # None: where tokenauth.urls is mounted
    samesite: SameSite
    secure: bool
    domain: str | None


def parse_cookie(raw: object, problem: Callable[[str], None]) -> CookieSettings | None:
    """Cookie mode's settings, None when it is off; ``problem`` gets each E007 message."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - _KEYS:
        problem(f"{_LABEL} must be None or a dict with keys {sorted(_KEYS)}.")
        return None

    def valid(key: str, ok: bool, requirement: str) -> object:
        if ok:
            return raw.get(key)
        problem(f"{_LABEL}['{key}'] {requirement}; not {raw.get(key)!r}.")
        return None

    name = raw.get("name")
    name = valid("name", name is None or _matches(_NAME, name), "must be a cookie name")
    path = raw.get("path")
    path_ok = path is None or (_matches(_ATTRIBUTE, path) and str(path).startswith("/"))
    path = valid("path", path_ok, "must be a URL path starting with '/'")
    domain = raw.get("domain")
    domain = valid("domain", domain is None or _matches(_ATTRIBUTE, domain), "must be a host")
    secure = raw.get("secure", True)
    secure = valid("secure", isinstance(secure, bool), "must be True or False") is not False
    samesite = _canonical_samesite(raw.get("samesite", "Strict"), problem)
    # Browsers drop these cookies silently (RFC 6265bis §4.1.3, SameSite=None needs Secure).
    prefix = str(name or "")
    if not secure and (samesite == "None" or prefix.startswith(("__Secure-", "__Host-"))):
        problem(f"{_LABEL}: SameSite=None and __Secure-/__Host- names need secure.")
    if prefix.startswith("__Host-") and (path != "/" or domain is not None):
        problem(f"{_LABEL}: a __Host- cookie needs path '/' and no domain.")
    return CookieSettings(
        name=cast("str | None", name),
        path=cast("str | None", path),
        samesite=samesite,
        secure=secure,
        domain=cast("str | None", domain),
    )


def _canonical_samesite(value: object, problem: Callable[[str], None]) -> SameSite:
    """``"lax"``, ``"LAX"``... as ``"Lax"``: Django accepts any case, browsers too."""
    canonical = _SAMESITE.get(value.lower()) if isinstance(value, str) else None
    if canonical is None:
        problem(
            f"{_LABEL}['samesite'] must be the string 'Strict', 'Lax' or 'None' (any case); "
            f"not {value!r}."
        )
        return "Strict"
    return canonical


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
