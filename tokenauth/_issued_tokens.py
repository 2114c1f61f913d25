"""``IssuedTokens``, the pair a login or a refresh hands out, and minting it for a family."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from tokenauth import _extensions, _refresh_tokens
from tokenauth._fingerprints import password_version
from tokenauth.access import encode_access_token
from tokenauth.settings import get_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from tokenauth.models import RefreshTokenFamily

__all__ = ["IssuedTokens", "mint_tokens"]


@dataclass(frozen=True)
class IssuedTokens:
    """What ``login``, ``refresh`` and ``issue_tokens`` return; the tokens are kept out of
    ``repr()``."""

    access_token: str = field(repr=False)
    access_token_expires_in: int  # seconds
    refresh_token: str = field(repr=False)
    refresh_token_expires_in: int  # seconds until the family's idle (capped absolute) expiry
    family_public_id: str
    # "DPoP" when the family is bound to a DPoP key (the access token carries ``cnf.jkt``).
    token_type: str = "Bearer"
    # TOKEN_RESPONSE_FIELDS, computed with the token so that a refusal rolls the mint back.
    response_fields: Mapping[str, object] = field(
        default_factory=lambda: _extensions.NOTHING, repr=False, hash=False
    )


def mint_tokens(
    family: RefreshTokenFamily, user: AbstractBaseUser, *, now: datetime
) -> IssuedTokens:
    """A fresh access token and the refresh token of the family's current generation, with
    the project's extra claims and response fields (``ImproperlyConfigured`` if refused)."""
    conf = get_settings()
    extra_claims = _extensions.access_token_claims(user)
    response_fields = _extensions.token_response_fields(user)
    access_expires_at = min(now + conf.access_token_lifetime, family.absolute_expires_at)
    access_token = encode_access_token(
        user_id=str(user.pk),
        family_public_id=family.public_id,
        password_version=password_version(user.password),
        now=now,
        expires_at=access_expires_at,
        extra_claims=extra_claims,
        dpop_jkt=family.dpop_jkt,
    )
    refresh_token = _refresh_tokens.make_refresh_token(
        family_secret=family.secret, public_id=family.public_id, generation=family.generation
    )
    return IssuedTokens(
        access_token=access_token,
        access_token_expires_in=int(access_expires_at.timestamp()) - int(now.timestamp()),
        refresh_token=refresh_token,
        refresh_token_expires_in=max(0, int((family.expires_at - now).total_seconds())),
        family_public_id=family.public_id,
        token_type="Bearer" if family.dpop_jkt is None else "DPoP",
        response_fields=response_fields,
    )
