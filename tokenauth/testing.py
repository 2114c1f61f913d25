"""Helpers for projects' own tests: a real access token for a user, no HTTP round trip.

from tokenauth.testing import access_token_for

client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenauth import service

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["access_token_for", "tokens_for"]


def tokens_for(user: AbstractBaseUser) -> service.IssuedTokens:
    """A new family for ``user`` (a real row, so every revocation mode accepts it)."""
    return service.issue_tokens(user=user, ip="127.0.0.1", user_agent="tokenauth.testing")


def access_token_for(user: AbstractBaseUser) -> str:
    return tokens_for(user).access_token
