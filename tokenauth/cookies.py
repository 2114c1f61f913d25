"""Cookie mode: the refresh token in an HttpOnly cookie, and the CSRF rule that guards it."""

from __future__ import annotations

import logging
from typing import NoReturn
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.http import HttpResponseBase
from django.urls import reverse
from django.utils.http import is_same_domain
from rest_framework import exceptions
from rest_framework.request import Request

from tokenauth._cookie_settings import CookieSettings
from tokenauth.settings import get_settings

logger = logging.getLogger(__name__)

__all__ = [
    "CsrfRefused",
    "DuplicateRefreshCookie",
    "MissingRefreshToken",
    "clear_refresh_cookie",
    "enabled",
    "is_json",
    "missing_refresh_token",
    "refresh_token_from_cookie",
    "require_csrf_proof",
    "require_json",
    "set_refresh_cookie",
]


class CsrfRefused(exceptions.PermissionDenied):
    default_detail = (
        "Cookie requests must be JSON POSTs with X-Requested-With: XMLHttpRequest "
        "from an allowed origin."
    )


# What each CSRF refusal says (DESIGN §3's rule, one condition each): what failed, what to do.
_NOT_POST = "Cookie mode takes POST requests only."
_NOT_JSON = (
    "Cookie mode takes JSON only: send Content-Type: application/json "
    "(a form post could come from any site)."
)
_NO_HEADER = (
    "Send the header X-Requested-With: XMLHttpRequest; cookie mode requires it "
    "(a custom header forces a CORS preflight)."
)
_NO_ORIGIN = (
    "The request has neither an Origin nor a Referer header: send Origin with the "
    "page's scheme://host[:port], as browsers do."
)
_NULL_ORIGIN = (
    "Origin 'null' is refused (sandboxed frames, file:// pages and some redirects send it): "
    "call from a page served over http(s)."
)
_FOREIGN_ORIGIN = (
    "The request's origin is neither this site's own nor in CSRF_TRUSTED_ORIGINS: add the "
    "page's scheme://host[:port] to CSRF_TRUSTED_ORIGINS, or serve it from this site."
)


class MissingRefreshToken(exceptions.ValidationError):
    """A cookie-mode refresh that carried no refresh token, in the body or in the cookie."""


def missing_refresh_token() -> MissingRefreshToken:
    """The 400 for a cookie-mode refresh with no token: names the body field and the cookie
    (a cookie-mode client never sends the field, so "refresh_token: required" misleads)."""
    conf = _conf()
    where = _path(conf) + (" over HTTPS" if conf.secure else "")
    return MissingRefreshToken(
        f"Neither the body's refresh_token nor the cookie {_name(conf)!r} carried a refresh "
        f"token. Log in first; browsers send that cookie only to {where}, and to another "
        "origin only with fetch's credentials: 'include'."
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
    trusted (OWASP: verifying origin with standard headers + custom request headers). The
    refusal names the condition that failed; only in ``DEBUG`` does it show what was seen.
    """
    if request.method != "POST":
        _refuse(request, _NOT_POST)
    require_json(request)
    if request.META.get("HTTP_X_REQUESTED_WITH") != "XMLHttpRequest":
        _refuse(request, _NO_HEADER)
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        referer = request.META.get("HTTP_REFERER")
        if not referer:
            _refuse(request, _NO_ORIGIN)
        seen = f"Referer origin {_shown(_origin_of(referer))}"  # never its path or query
        origin = _origin_of(referer)
    elif origin == "null":
        _refuse(request, _NULL_ORIGIN)
    else:
        seen = f"Origin {_shown(origin)}"
    if origin is None or not _origin_allowed(request, origin):
        _refuse(request, _FOREIGN_ORIGIN, seen=seen)


def require_json(request: Request) -> None:
    """Refuse (403) a cookie-carried request that is not JSON: a form post from any site."""
    if not is_json(request):
        _refuse(request, _NOT_JSON)


def _refuse(request: Request, condition: str, *, seen: str | None = None) -> NoReturn:
    """Log and raise the refusal; ``seen`` (the origin) joins the response in DEBUG only."""
    logger.warning(
        "Refused a cookie-mode request to %r: %s Origin %r, Referer origin %r.",
        request.path,
        condition,
        request.META.get("HTTP_ORIGIN"),
        _origin_of(str(request.META.get("HTTP_REFERER") or "")),
    )
    detail = condition
    if seen is not None and django_settings.DEBUG:
        trusted = list(getattr(django_settings, "CSRF_TRUSTED_ORIGINS", []))
        detail += (
            f" (DEBUG) Seen: {seen}; compared with this site's {_shown(_own_origin(request))}"
            f" and CSRF_TRUSTED_ORIGINS {trusted!r}."
        )
    raise CsrfRefused(detail)


def _shown(value: str | None) -> str:
    """A client-sent value for a message: quoted, escaped, bounded."""
    return repr(value if value is None else value[:200])


def is_json(request: Request) -> bool:
    """Whether the media type is ``application/json`` (parameters such as charset allowed)."""
    content_type = str(request.META.get("CONTENT_TYPE", ""))
    return content_type.split(";")[0].strip().lower() == "application/json"


def _origin_of(url: str) -> str | None:
    """A URL's scheme://host[:port]; None when there is none to be had."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _own_origin(request: Request) -> str:
    return f"{'https' if request.is_secure() else 'http'}://{request.get_host()}"


def _origin_allowed(request: Request, origin: str) -> bool:
    if origin.lower() == _own_origin(request).lower():
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
