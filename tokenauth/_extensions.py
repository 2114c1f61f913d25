"""Call the project's ``ACCESS_TOKEN_CLAIMS`` and ``TOKEN_RESPONSE_FIELDS`` hooks and refuse
what they must not return (DESIGN §9)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

from tokenauth.access import RESERVED_CLAIMS
from tokenauth.settings import Hook, get_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

# RFC 6749 §5.1's names and ours: a hook may add to a token response, never change it.
RESERVED_RESPONSE_FIELDS = frozenset(
    {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
        "scope",
    }
)
NOTHING: Mapping[str, object] = MappingProxyType({})


def access_token_claims(user: AbstractBaseUser) -> Mapping[str, object]:
    """The extra claims for an access token of ``user``; raises ``ImproperlyConfigured`` for a
    non-dict, a reserved or non-string name, or a value JSON cannot carry."""
    hook = get_settings().access_token_claims
    return _call("ACCESS_TOKEN_CLAIMS", hook, user, RESERVED_CLAIMS)


def token_response_fields(user: AbstractBaseUser) -> Mapping[str, object]:
    """The extra fields of a token response for ``user``; refuses as ``access_token_claims``."""
    hook = get_settings().token_response_fields
    return _call("TOKEN_RESPONSE_FIELDS", hook, user, RESERVED_RESPONSE_FIELDS)


def _call(
    key: str, hook: Hook | None, user: AbstractBaseUser, reserved: frozenset[str]
) -> Mapping[str, object]:
    if hook is None:
        return NOTHING
    values = hook(user)
    setting = f"TOKENAUTH['{key}']"
    if not isinstance(values, dict):
        raise ImproperlyConfigured(f"{setting} returned a {type(values).__name__}, not a dict.")
    not_str = [name for name in values if not isinstance(name, str)]
    if not_str:
        raise ImproperlyConfigured(f"{setting} returned names that are not strings: {not_str!r}.")
    clash = sorted(reserved.intersection(values))
    if clash:
        raise ImproperlyConfigured(
            f"{setting} returned reserved names {', '.join(clash)}: tokenauth sets those itself."
        )
    try:
        json.dumps(values, allow_nan=False)  # strict JSON: no NaN, no datetime, no set
    except (TypeError, ValueError, RecursionError) as exc:
        raise ImproperlyConfigured(
            f"{setting} returned a value that is not JSON-serialisable: {exc}."
        ) from exc
    return MappingProxyType(dict(values))
