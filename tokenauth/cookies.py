"""Cookie mode: the refresh token in an HttpOnly cookie, and the CSRF rule that guards it."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.http import HttpResponseBase
from django.urls import reverse
from django.utils.http import is_same_domain
from rest_framework import exceptions
from rest_framework.request import Request

from tokenauth._cookie_settings import CookieSettings
from tokenauth.settings import get_settings

__all__ = [
    "CsrfRefused",
    "DuplicateRefreshCookie",
    "clear_refresh_cookie",
    "enabled",
    "is_json",
    "refresh_token_from_cookie",
    "require_csrf_proof",
    "set_refresh_cookie",
]


class CsrfRefused(exceptions.PermissionDenied):
    default_detail = (
        "Cookie requests must be JSON POSTs with X-Requested-With: XMLHttpRequest "
        "from an allowed origin."
    )


class DuplicateRefreshCookie(exceptions.ParseError):
    """Two cookies of our name: a sibling subdomain or another path set one (cookie tossing)."""

    default_detail = (
        "The request carries the refresh cookie more than once; clear this site's cookies "
        "and log in again."
    )


def enabled() -> bool:
    return get_settings().refresh_cookie is not None


def _conf() -> CookieSettings:
    conf = get_settings().refresh_cookie
    if conf is None:
        raise RuntimeError("cookie mode is off; check cookies.enabled() first")
    return conf


def _name(conf: CookieSettings) -> str:
    if conf.name:
        return conf.name
    # Browsers refuse a __Secure- cookie set without Secure.
    return "__Secure-tokenauth-refresh" if conf.secure else "tokenauth-refresh"


def _path(conf: CookieSettings) -> str:
    """Where tokenauth.urls is mounted (``/auth/``): the cookie goes to those URLs only."""
    if conf.path:
        return conf.path
    login = reverse("tokenauth:login")
    return login[: -len("login/")] if login.endswith("login/") else "/"


def refresh_token_from_cookie(request: Request) -> str | None:
    return request.COOKIES.get(_name(_conf())) or None


def require_one_refresh_cookie(request: Request) -> None:
    """Refuse (400) a request about to use the cookie when it carries our name twice or more.

    ``request.COOKIES`` keeps the last of them, and which is last is the browser's choice: a
    cookie tossed from ``evil.example.com`` with ``Domain=.example.com`` would otherwise log
    the victim's page into the attacker's account. No-op outside cookie mode.
    """
    if not enabled():
        return
    if _occurrences(str(request.META.get("HTTP_COOKIE", "")), _name(_conf())) > 1:
        raise DuplicateRefreshCookie()


def _occurrences(cookie_header: str, name: str) -> int:
    """How many cookies called ``name`` the raw header holds, split as Django's
    ``parse_cookie`` splits it: on ";", the name before the first "=", stripped (a chunk
    without "=" has an empty name there, so it never counts as ours)."""
    return sum(
        1
        for chunk in cookie_header.split(";")
        if "=" in chunk and chunk.split("=", 1)[0].strip() == name
    )


def set_refresh_cookie(response: HttpResponseBase, refresh_token: str, max_age: int) -> None:
    conf = _conf()
    response.set_cookie(
        _name(conf),
        refresh_token,
        max_age=max_age,
        path=_path(conf),
        domain=conf.domain,
        secure=conf.secure,
        httponly=True,
        samesite=conf.samesite,
    )


def clear_refresh_cookie(response: HttpResponseBase) -> None:
    conf = _conf()
    response.delete_cookie(
        _name(conf), path=_path(conf), domain=conf.domain, samesite=conf.samesite
    )
    # delete_cookie sets Max-Age=0 and an old Expires; keep the attributes a browser matches on.
    response.cookies[_name(conf)]["secure"] = conf.secure
    response.cookies[_name(conf)]["httponly"] = True


def require_csrf_proof(request: Request) -> None:
    """Refuse (403) a cookie-carried request that a cross-site page could have sent.

    A JSON POST with a custom header forces a CORS preflight, and the origin must be ours or
    trusted (OWASP: verifying origin with standard headers + custom request headers).
    """
    if request.method != "POST" or not is_json(request):
        raise CsrfRefused()
    if request.META.get("HTTP_X_REQUESTED_WITH") != "XMLHttpRequest":
        raise CsrfRefused()
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        referer = request.META.get("HTTP_REFERER")
        if not referer:
            raise CsrfRefused()
        origin = _origin_of(referer)
    if not _origin_allowed(request, origin):
        raise CsrfRefused()


def is_json(request: Request) -> bool:
    """Whether the media type is ``application/json`` (parameters such as charset allowed)."""
    content_type = str(request.META.get("CONTENT_TYPE", ""))
    return content_type.split(";")[0].strip().lower() == "application/json"


def _origin_of(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return "null"
    return f"{parts.scheme}://{parts.netloc}"


def _origin_allowed(request: Request, origin: str) -> bool:
    if origin == "null":
        return False
    own = f"{'https' if request.is_secure() else 'http'}://{request.get_host()}"
    if origin.lower() == own.lower():
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    for trusted in getattr(django_settings, "CSRF_TRUSTED_ORIGINS", []):
        allowed = urlsplit(trusted)
        if allowed.scheme != parts.scheme:
            continue
        if "*" in allowed.netloc:  # Django's wildcard: "https://*.example.com"
            if is_same_domain(parts.netloc, allowed.netloc.replace("*", "", 1)):
                return True
        elif allowed.netloc.lower() == parts.netloc.lower():
            return True
    return False
