"""System checks (``manage.py check``) for the ``TOKENAUTH`` setting.

``get_settings()`` refuses at first use every error that these checks report (DESIGN §2).

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
| E011 | an ACCESS_TOKEN_CLAIMS or TOKEN_RESPONSE_FIELDS that is no callable of one user |
| E012 | a DPOP_ALGORITHMS entry that is no asymmetric proof algorithm, or none at all |
| W001 | a lifetime outside the advised ranges |
| W002 | cache revocation on a process-local cache while DEBUG is off |
| W003 | login throttle on a process-local or dummy cache while DEBUG is off |
| W004 | MySQL/MariaDB outside READ COMMITTED for the families' database |
| W005 | DPoP on with its proof replay cache process-local or dummy while DEBUG is off |

What the two hooks return (reserved names, JSON) needs a user to call them with: no check can
tell, so minting refuses it (``ImproperlyConfigured``, see ``tokenauth._extensions``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning
from django.core.checks import register as register_check
from django.db import connections

from tokenauth import _db
from tokenauth.keys import KeyMaterialError, load_key_set
from tokenauth.settings import Problem, TokenAuthSettings, parse_problems

__all__ = [
    "check_database_isolation",
    "check_settings",
    "isolation_problems",
    "project_problems",
    "register",
]

_LOCAL_CACHES = {  # backend: what a throttle that counts in it gets
    "django.core.cache.backends.locmem.LocMemCache": (
        "process-local: each process counts alone, so N processes allow N times the rate"
    ),
    "django.core.cache.backends.dummy.DummyCache": (
        "a DummyCache: nothing is counted, so no login is ever throttled"
    ),
}
_LOCAL_REPLAY_CACHES = {  # backend: what the DPoP jti replay check gets from it
    "django.core.cache.backends.locmem.LocMemCache": (
        "process-local: a proof replayed to another process is accepted"
    ),
    "django.core.cache.backends.dummy.DummyCache": (
        "a DummyCache: it remembers nothing, so no replayed proof is ever detected"
    ),
}
_SHARED_CACHE_HINT = "Point TOKENAUTH['CACHE_ALIAS'] at a shared cache such as Django's RedisCache."


def register() -> None:
    register_check(check_settings, Tags.security)
    register_check(check_database_isolation, Tags.compatibility)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    _, problems = parse_problems()
    return [
        (Error if problem.is_error else Warning)(
            problem.message, hint=problem.hint, id=f"tokenauth.{problem.id}"
        )
        for problem in problems
    ]


def project_problems(conf: TokenAuthSettings) -> list[Problem]:
    """What only the rest of the project shows: keys that cannot load, DEBUG, CACHES.

    ``settings.parse_problems()`` adds these to the parser's own.
    """
    problems: list[Problem] = []
    if not any(problem.id in ("E004", "E005", "E006") for problem in conf.problems):
        try:
            key_set = load_key_set(conf)
        except KeyMaterialError as exc:
            problems.append(Problem("E008", f"{exc}."))
        else:
            from tokenauth.access import unusable_keys  # access reads the settings: at call time

            problems.extend(Problem("E008", f"{problem}.") for problem in unusable_keys(key_set))
    debug = django_settings.DEBUG
    if conf.refresh_cookie is not None and not conf.refresh_cookie.secure and not debug:
        message = "TOKENAUTH['REFRESH_COOKIE'] has secure off while DEBUG is off."
        problems.append(Problem("E009", message))
    cache = django_settings.CACHES.get(conf.cache_alias)
    if cache is None:
        message = f"TOKENAUTH['CACHE_ALIAS'] {conf.cache_alias!r} is not in CACHES."
        problems.append(Problem("E010", message))
    elif not debug and cache.get("BACKEND") in _LOCAL_CACHES:
        problems.extend(_local_cache_warnings(conf, _LOCAL_CACHES[cache["BACKEND"]]))
        problems.extend(_replay_cache_warnings(conf, _LOCAL_REPLAY_CACHES[cache["BACKEND"]]))
    return problems


def _local_cache_warnings(conf: TokenAuthSettings, local: str) -> list[Problem]:
    alias = conf.cache_alias
    problems: list[Problem] = []
    if conf.access_token_revocation == "cache":
        message = (
            f"ACCESS_TOKEN_REVOCATION is 'cache' but cache {alias!r} is process-local: "
            "other processes never see a revocation."
        )
        problems.append(Problem("W002", message, _SHARED_CACHE_HINT))
    if conf.login_throttle_rate is not None:
        message = f"TOKENAUTH['LOGIN_THROTTLE_RATE'] is on but cache {alias!r} is {local}."
        problems.append(Problem("W003", message, _SHARED_CACHE_HINT))
    return problems


def _replay_cache_warnings(conf: TokenAuthSettings, local: str) -> list[Problem]:
    if conf.dpop == "off":
        return []
    message = (
        f"TOKENAUTH['DPOP'] is {conf.dpop!r} but the proof replay cache "
        f"{conf.cache_alias!r} is {local}."
    )
    return [Problem("W005", message, _SHARED_CACHE_HINT)]


def check_database_isolation(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W004, from the settings alone (no connection): the level Django sets on connecting."""
    alias = _db.write_alias()
    connection = connections[alias]
    options = connection.settings_dict.get("OPTIONS") or {}
    return [
        Warning(problem.message, hint=problem.hint, id=f"tokenauth.{problem.id}")
        for problem in isolation_problems(alias, connection.vendor, options)
    ]


def isolation_problems(alias: str, vendor: str, options: dict[str, Any]) -> list[Problem]:
    """READ COMMITTED is what tokenauth's transactions are built and tested for on InnoDB."""
    if vendor != "mysql":
        return []
    level = options.get("isolation_level", "read committed")  # Django's default for MySQL
    if isinstance(level, str) and level.lower() == "read committed":
        return []
    shown = repr(level) if level else "the server's default (REPEATABLE READ unless changed)"
    message = f"Database {alias!r} holds the token families and runs under isolation level {shown}."
    hint = (
        f"Set DATABASES[{alias!r}]['OPTIONS']['isolation_level'] = 'read committed' (Django's "
        "default for MySQL and MariaDB). Above it InnoDB's gap locks make concurrent logins and "
        "refreshes deadlock, plain reads return the transaction's snapshot, and MariaDB 11.6+'s "
        "innodb_snapshot_isolation fails a refresh that waited (each a 503); below it a refresh "
        "can read a rotation that is rolled back."
    )
    return [Problem("W004", message, hint)]
