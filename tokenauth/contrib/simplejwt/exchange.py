"""Trade a simplejwt refresh token for a tokenauth family, spending the simplejwt token."""

from __future__ import annotations

import contextlib
import hmac
import logging
from typing import TYPE_CHECKING, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import router, transaction
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from tokenauth import _db, service

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["exchange_refresh_token"]

logger = logging.getLogger(__name__)


def exchange_refresh_token(
    *, refresh_token: str, ip: str | None, user_agent: str, dpop_jkt: str | None = None
) -> service.IssuedTokens:
    """Start a family for the user of a valid simplejwt refresh token; return its tokens
    (bound to the DPoP key ``dpop_jkt`` when given, as a login is).

    simplejwt's own ``RefreshToken`` checks signature, expiry, type and (``token_blacklist``
    installed) its blacklist; then its user must exist and be active. With ``token_blacklist``
    installed the simplejwt token is blacklisted in the family's transaction, so it buys one
    family only. Raises ``InvalidRefreshToken`` (its ``reason`` is for the logs). No ``now``:
    simplejwt checks expiry against its own clock.
    """
    token = _validated(refresh_token)
    user = _user_of(token)
    with _db.atomic(), _blacklist_atomic(token):
        _spend(token)
        # An unreadable revocation cache (cache mode, "closed") raises here, inside the
        # transaction: the blacklisting rolls back and the token stays unspent.
        tokens = service.issue_tokens(user=user, ip=ip, user_agent=user_agent, dpop_jkt=dpop_jkt)
    logger.info(
        "tokenauth: simplejwt token %r exchanged for family %s of user %s",
        token.get(simplejwt_settings.api_settings.JTI_CLAIM),
        tokens.family_public_id,
        user.pk,
    )
    return tokens


def _refused(reason: str) -> service.InvalidRefreshToken:
    logger.info("tokenauth: simplejwt exchange refused: %s", reason)
    return service.InvalidRefreshToken(f"simplejwt: {reason}")


def _validated(refresh_token: str) -> RefreshToken:
    try:
        return RefreshToken(refresh_token)  # type: ignore[arg-type]  # annotated Token; decodes a str
    except ExpiredTokenError:
        raise _refused("expired") from None
    except TokenError as exc:  # invalid signature or format, wrong type, blacklisted
        raise _refused(repr(str(exc))) from None


def _user_of(token: RefreshToken) -> AbstractBaseUser:
    # Read at call time: simplejwt rebinds its api_settings when SIMPLE_JWT changes.
    conf = simplejwt_settings.api_settings
    user_model = get_user_model()
    try:
        # A missing claim looks up None: no row, as for a deleted user. ValueError and
        # TypeError: a claim no pk can be; ValidationError: one a UUID pk refuses.
        user = user_model._default_manager.using(_db.write_alias()).get(
            **{conf.USER_ID_FIELD: token.get(conf.USER_ID_CLAIM)}
        )
    except (user_model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise _refused("unknown user") from None
    # is_active whatever CHECK_USER_IS_ACTIVE says: tokenauth never starts a family for an
    # inactive user. The project's own USER_AUTHENTICATION_RULE applies too, as at simplejwt's
    # refresh.
    if not user.is_active or not conf.USER_AUTHENTICATION_RULE(user):
        raise _refused(f"user {user.pk} inactive")
    if conf.CHECK_REVOKE_TOKEN and not hmac.compare_digest(
        str(token.get(conf.REVOKE_TOKEN_CLAIM, "")), get_md5_hash_password(user.password)
    ):
        raise _refused(f"user {user.pk} changed password")
    return user


def _installed(token: RefreshToken) -> bool:
    """Whether simplejwt keeps a blacklist: it defines ``blacklist`` only then (at import)."""
    return hasattr(token, "blacklist")


def _blacklist_atomic(token: RefreshToken) -> contextlib.AbstractContextManager[object]:
    """A transaction on the blacklist's database too, when a router puts it elsewhere.

    Opened inside the families' one, it commits first: if the families' commit then fails,
    the token is spent without a family (the user logs in again), never exchangeable twice.
    """
    if not _installed(token):
        return contextlib.nullcontext()
    return transaction.atomic(using=router.db_for_write(BlacklistedToken))


def _spend(token: RefreshToken) -> None:
    if not _installed(token):
        return  # nothing remembers the token: it stays exchangeable until it expires
    # get_or_create's (entry, created), though annotated as the entry alone.
    _entry, created = cast("tuple[BlacklistedToken, bool]", token.blacklist())
    if not created:  # blacklisted since our check: a concurrent exchange, or simplejwt's logout
        raise _refused("blacklisted meanwhile")
