"""System checks (``manage.py check``) for the ``TOKENAUTH`` setting.

| id   | what |
| ---- | ---- |
| E001 | TOKENAUTH is not a dict, or has unknown keys |
| E002 | a value of the wrong type or out of its domain |
| E003 | absolute refresh lifetime shorter than the idle one |
| E004 | an algorithm without the key it needs |
| E005 | an HMAC key shorter than its hash (RFC 7518 §3.2) |
| E006 | a malformed VERIFYING_KEYS entry |
| E007 | a malformed REFRESH_COOKIE |
| E008 | a key that cannot be loaded or does not fit its algorithm |
| E009 | refresh cookie without Secure while DEBUG is off |
| E010 | CACHE_ALIAS names no configured cache |
| W001 | a lifetime outside the advised ranges |
| W002 | cache revocation on a process-local cache while DEBUG is off |
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning
from django.core.checks import register as register_check

from tokenauth.keys import KeyError_, get_key_set
from tokenauth.settings import get_settings

_LOCAL_CACHES = frozenset(
    {"django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache"}
)


def register() -> None:
    register_check(check_settings, Tags.security)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    conf = get_settings()
    messages: list[CheckMessage] = [
        (Warning if problem.id.startswith("W") else Error)(
            problem.message, id=f"tokenauth.{problem.id}"
        )
        for problem in conf.problems
    ]
    if not any(problem.id in ("E004", "E005", "E006") for problem in conf.problems):
        try:
            get_key_set()
        except KeyError_ as exc:
            messages.append(Error(f"TOKENAUTH key: {exc}.", id="tokenauth.E008"))
    debug = django_settings.DEBUG
    if conf.refresh_cookie is not None and not conf.refresh_cookie.secure and not debug:
        messages.append(
            Error(
                "TOKENAUTH['REFRESH_COOKIE'] has secure off while DEBUG is off.",
                id="tokenauth.E009",
            )
        )
    if conf.cache_alias not in django_settings.CACHES:
        messages.append(
            Error(
                f"TOKENAUTH['CACHE_ALIAS'] {conf.cache_alias!r} is not in CACHES.",
                id="tokenauth.E010",
            )
        )
    elif conf.access_token_revocation == "cache" and not debug:
        backend = django_settings.CACHES[conf.cache_alias].get("BACKEND", "")
        if backend in _LOCAL_CACHES:
            messages.append(
                Warning(
                    f"ACCESS_TOKEN_REVOCATION is 'cache' but cache {conf.cache_alias!r} is "
                    "process-local: other processes never see a revocation.",
                    hint="Use a shared cache such as Django's RedisCache.",
                    id="tokenauth.W002",
                )
            )
    return messages
