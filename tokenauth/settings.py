"""Read the ``TOKENAUTH`` setting into one typed, validated object.

A refused value is replaced by its default only for the parsing and checks that follow it:
``get_settings()`` refuses to hand out settings with an E-level problem.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, TypeGuard, cast

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from tokenauth._cookie_settings import CookieSettings as CookieSettings  # its old home
from tokenauth._cookie_settings import parse_cookie
from tokenauth._dpop_settings import DPoPMode, parse_dpop_algorithms
from tokenauth._key_settings import ALGORITHMS, check_key, parse_verifying_keys
from tokenauth._key_settings import VerifyingKeySetting as VerifyingKeySetting  # its old home

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = [
    "Hook",
    "Problem",
    "TokenAuthSettings",
    "VerifyingKeySetting",
    "get_settings",
    "parse_problems",
]


RevocationMode = Literal["database", "cache", "none"]
CacheFailure = Literal["closed", "open"]
Hook = Callable[["AbstractBaseUser"], object]  # f(user) -> dict, checked at mint time

_DEFAULTS: dict[str, object] = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=7),
    "REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=30),
    "REUSE_GRACE_PERIOD": timedelta(seconds=10),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": None,
    "SIGNING_KEY_ID": None,
    "VERIFYING_KEYS": [],
    "ISSUER": None,
    "AUDIENCE": None,
    "LEEWAY": timedelta(seconds=0),
    "REFRESH_COOKIE": None,
    "ACCESS_TOKEN_REVOCATION": "database",
    "CACHE_ALIAS": "default",
    "CACHE_FAILURE": "closed",
    "LOGIN_THROTTLE_RATE": "10/min",
    "ACCESS_TOKEN_CLAIMS": None,
    "TOKEN_RESPONSE_FIELDS": None,
    "DPOP": "allowed",
    "DPOP_ALGORITHMS": ["ES256", "EdDSA", "RS256", "PS256"],
    "DPOP_NONCE": False,
    "DPOP_PROOF_MAX_AGE": timedelta(seconds=60),
}


@dataclass(frozen=True)
class Problem:
    """A configuration problem, reported by ``checks.py`` under ``tokenauth.<id>``."""

    id: str
    message: str
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.id.startswith("E")


@dataclass(frozen=True)
class TokenAuthSettings:
    access_token_lifetime: timedelta = timedelta(minutes=15)
    refresh_token_idle_lifetime: timedelta = timedelta(days=7)
    refresh_token_absolute_lifetime: timedelta = timedelta(days=30)
    reuse_grace_period: timedelta = timedelta(seconds=10)
    algorithm: str = "HS256"
    signing_key: str | bytes | None = None
    signing_key_id: str | None = None
    verifying_keys: tuple[VerifyingKeySetting, ...] = ()
    issuer: str | None = None
    audience: str | tuple[str, ...] | None = None  # a token for any of them is accepted
    leeway: timedelta = timedelta(0)
    refresh_cookie: CookieSettings | None = None
    access_token_revocation: RevocationMode = "database"
    cache_alias: str = "default"
    cache_failure: CacheFailure = "closed"
    login_throttle_rate: tuple[int, int] | None = (10, 60)  # (requests, seconds)
    access_token_claims: Hook | None = None
    token_response_fields: Hook | None = None
    dpop: DPoPMode = "allowed"
    dpop_algorithms: tuple[str, ...] = ("ES256", "EdDSA", "RS256", "PS256")
    dpop_nonce: bool = False
    dpop_proof_max_age: timedelta = timedelta(seconds=60)
    problems: tuple[Problem, ...] = field(default=(), compare=False)


@functools.cache
def get_settings() -> TokenAuthSettings:
    """The current ``TOKENAUTH`` settings.

    Raises ``ImproperlyConfigured``, naming each key and check id, while the system checks
    find an E-level problem: never a default in place of a refused value (DESIGN §2).
    """
    conf, problems = parse_problems()
    errors = [problem for problem in problems if problem.is_error]
    if errors:
        raise ImproperlyConfigured(
            "\n".join(f"{problem.message} (tokenauth.{problem.id})" for problem in errors)
        )
    return conf


@functools.cache
def parse_problems() -> tuple[TokenAuthSettings, tuple[Problem, ...]]:
    """The settings as parsed and every problem the system checks report; never raises."""
    raw = getattr(django_settings, "TOKENAUTH", None)
    conf = _parse({} if raw is None else raw)
    if raw is not None and not isinstance(raw, Mapping):
        return conf, conf.problems  # E001: nothing else was read
    from tokenauth.checks import project_problems  # it loads keys, which read settings

    return conf, (*conf.problems, *project_problems(conf))


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs: object) -> None:
    if setting in {"TOKENAUTH", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "DEBUG", "CACHES"}:
        get_settings.cache_clear()
        parse_problems.cache_clear()


class _Parser:
    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw
        self.problems: list[Problem] = []

    def problem(self, id: str, message: str) -> None:
        self.problems.append(Problem(id, message))

    def get(self, key: str) -> object:
        return self.raw.get(key, _DEFAULTS[key])

    def refuse(self, key: str, requirement: str) -> object:
        """Report ``key``'s value as E002; its default, for the parsing that follows."""
        self.problem("E002", f"TOKENAUTH['{key}'] must be {requirement}, not {self.get(key)!r}.")
        return _DEFAULTS[key]

    def duration(self, key: str, *, allow_zero: bool = False) -> timedelta:
        """A ``timedelta``, or an int or float number of seconds (never a bool)."""
        value = _as_timedelta(self.get(key))
        if value is None:
            requirement = "a datetime.timedelta or a number of seconds"
        elif value < timedelta(0) or (value == timedelta(0) and not allow_zero):
            requirement = "zero or more" if allow_zero else "more than zero"
        else:
            return value
        return cast(timedelta, self.refuse(key, requirement))

    def optional_str(self, key: str) -> str | None:
        value = self.get(key)
        if value is None or _non_empty_str(value):
            return value
        return cast(None, self.refuse(key, "a non-empty string or None"))

    def audience(self) -> str | tuple[str, ...] | None:
        value = self.get("AUDIENCE")
        if value is None or _non_empty_str(value):
            return value
        if isinstance(value, (list, tuple)) and value and all(map(_non_empty_str, value)):
            return tuple(value)  # PyJWT accepts a token whose ``aud`` names any of them
        return cast(None, self.refuse("AUDIENCE", "a string, a list of strings, or None"))

    def cache_alias(self) -> str:
        value = self.get("CACHE_ALIAS")  # one that CACHES lacks is checks.py's E010
        if isinstance(value, str):
            return value
        return cast(str, self.refuse("CACHE_ALIAS", "the name of a cache in CACHES"))

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.get(key)
        if isinstance(value, str) and value in choices:
            return value
        return cast(str, self.refuse(key, f"one of {', '.join(choices)}"))

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if isinstance(value, bool):  # 1 or "yes" may mean anything: only a bool says it
            return value
        return cast(bool, self.refuse(key, "True or False"))

    def rate(self) -> tuple[int, int] | None:
        """A DRF-style rate: as in DRF, only the period's first letter counts ("10/minute")."""
        value = self.get("LOGIN_THROTTLE_RATE")
        if value is None:
            return None
        match = _RATE.fullmatch(value) if isinstance(value, str) else None
        if match and int(match[1]) > 0:
            return int(match[1]), _PERIODS[match[2]]
        self.refuse("LOGIN_THROTTLE_RATE", "a rate such as '10/min', or None")
        return 10, 60

    def hook(self, key: str) -> Hook | None:
        """A callable, or a dotted path to one, that takes the user as its one argument.

        What it returns can only be judged when it is called, with a user: at mint time.
        """
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as exc:
                self.problem("E011", f"TOKENAUTH['{key}'] cannot be imported: {exc}.")
                return None
        if not callable(value):
            self.problem(
                "E011",
                f"TOKENAUTH['{key}'] must be a callable or a dotted path to one, not {value!r}.",
            )
            return None
        if not _takes_one_argument(value):
            self.problem(
                "E011", f"TOKENAUTH['{key}'] {value!r} cannot be called with the user alone."
            )
            return None
        return cast(Hook, value)


def _takes_one_argument(function: Callable[..., object]) -> bool:
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        return False
    except ValueError:  # no signature to read (some builtins): it may well work
        return True
    return True


_RATE = re.compile(r"([0-9]+)/([smhd]).*", re.ASCII | re.DOTALL)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _as_timedelta(value: object) -> timedelta | None:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None  # True is 1 to Python, but nobody means one second by it
    try:
        return timedelta(seconds=value)
    except (ValueError, OverflowError):  # NaN, infinities, beyond timedelta.max
        return None


def _non_empty_str(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


def _parse(raw: object) -> TokenAuthSettings:
    if not isinstance(raw, Mapping):
        message = f"TOKENAUTH must be a dict, not {type(raw).__name__}."
        return TokenAuthSettings(problems=(Problem("E001", message),))
    p = _Parser(raw)
    unknown = sorted(str(k) for k in raw if k not in _DEFAULTS)
    if unknown:
        p.problem("E001", f"Unknown TOKENAUTH keys: {', '.join(unknown)}.")

    access = p.duration("ACCESS_TOKEN_LIFETIME")
    idle = p.duration("REFRESH_TOKEN_IDLE_LIFETIME")
    absolute = p.duration("REFRESH_TOKEN_ABSOLUTE_LIFETIME")
    if absolute < idle:
        p.problem(
            "E003",
            "TOKENAUTH['REFRESH_TOKEN_ABSOLUTE_LIFETIME'] is shorter than "
            "TOKENAUTH['REFRESH_TOKEN_IDLE_LIFETIME'].",
        )
    _warn_ranges(p, access, idle, absolute)

    algorithm = p.choice("ALGORITHM", tuple(sorted(ALGORITHMS)))
    signing_key = p.get("SIGNING_KEY")
    if signing_key is not None and not isinstance(signing_key, (str, bytes)):
        signing_key = p.refuse("SIGNING_KEY", "a string, bytes or None")
    check_key(p.problem, algorithm, signing_key, "TOKENAUTH['SIGNING_KEY']", required=False)

    return TokenAuthSettings(
        access_token_lifetime=access,
        refresh_token_idle_lifetime=idle,
        refresh_token_absolute_lifetime=absolute,
        reuse_grace_period=p.duration("REUSE_GRACE_PERIOD", allow_zero=True),
        algorithm=algorithm,
        signing_key=cast("str | bytes | None", signing_key),
        signing_key_id=p.optional_str("SIGNING_KEY_ID"),
        verifying_keys=parse_verifying_keys(p.get("VERIFYING_KEYS"), algorithm, p.problem),
        issuer=p.optional_str("ISSUER"),
        audience=p.audience(),
        leeway=p.duration("LEEWAY", allow_zero=True),
        refresh_cookie=parse_cookie(p.get("REFRESH_COOKIE"), functools.partial(p.problem, "E007")),
        access_token_revocation=cast(
            RevocationMode, p.choice("ACCESS_TOKEN_REVOCATION", ("database", "cache", "none"))
        ),
        cache_alias=p.cache_alias(),
        cache_failure=cast(CacheFailure, p.choice("CACHE_FAILURE", ("closed", "open"))),
        login_throttle_rate=p.rate(),
        access_token_claims=p.hook("ACCESS_TOKEN_CLAIMS"),
        token_response_fields=p.hook("TOKEN_RESPONSE_FIELDS"),
        dpop=cast(DPoPMode, p.choice("DPOP", ("off", "allowed", "required"))),
        dpop_algorithms=parse_dpop_algorithms(p.get("DPOP_ALGORITHMS"), p.problem),
        dpop_nonce=p.flag("DPOP_NONCE"),
        dpop_proof_max_age=p.duration("DPOP_PROOF_MAX_AGE"),
        problems=tuple(p.problems),
    )


def _warn_ranges(p: _Parser, access: timedelta, idle: timedelta, absolute: timedelta) -> None:
    # DESIGN §1 ranges; only a warning: tests and demos use lifetimes of seconds.
    if not timedelta(minutes=15) <= access <= timedelta(hours=1):
        p.problem("W001", f"TOKENAUTH['ACCESS_TOKEN_LIFETIME'] is {access}; 15 min to 1 h advised.")
    for key, value in (("IDLE", idle), ("ABSOLUTE", absolute)):
        if not timedelta(days=7) <= value <= timedelta(days=30):
            p.problem(
                "W001",
                f"TOKENAUTH['REFRESH_TOKEN_{key}_LIFETIME'] is {value}; 7 to 30 days advised.",
            )
