"""The domain: log in, refresh, revoke. Plain functions over models; never sees a request."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from django.contrib.auth.signals import user_logged_in
from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from tokenauth import keys, refresh_tokens, revocation, signals
from tokenauth.access import InvalidAccessToken, decode_access_token, encode_access_token
from tokenauth.client_info import clean_ip, clean_user_agent
from tokenauth.fingerprints import (
    client_binding,
    client_binding_matches,
    password_fingerprint,
    password_fingerprint_matches,
)
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.settings import get_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = [
    "InvalidAccessToken",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "IssuedTokens",
    "RevocationReason",
    "TokenAuthError",
    "issue_tokens",
    "live_families",
    "login",
    "logout",
    "public_key_set",
    "refresh",
    "revoke_family",
    "revoke_token",
    "revoke_user",
]

logger = logging.getLogger(__name__)

Verdict = Literal["current", "grace", "reuse", "revoked", "forged"]


class TokenAuthError(Exception):
    """Base of the errors the service raises."""


class InvalidCredentials(TokenAuthError):
    """Wrong username or password, or an inactive user: the client cannot tell which."""


class InvalidRefreshToken(TokenAuthError):
    """The refresh token buys nothing. ``reason`` is for logs, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str = field(repr=False)
    access_token_expires_in: int  # seconds
    refresh_token: str = field(repr=False)
    refresh_token_expires_in: int  # seconds until the family's idle (capped absolute) expiry
    family_public_id: str


def login(
    *, user: AbstractBaseUser, ip: str | None, user_agent: str, now: datetime | None = None
) -> IssuedTokens:
    """Start a family for a user the caller has authenticated; sends ``user_logged_in``.

    Raises ``InvalidCredentials`` for an inactive user.
    """
    if not user.is_active:
        raise InvalidCredentials("inactive user")
    with transaction.atomic():
        tokens = issue_tokens(user=user, ip=ip, user_agent=user_agent, now=now)
        # No request here: receivers such as update_last_login only need the user.
        user_logged_in.send(sender=type(user), request=None, user=user)
    return tokens


def issue_tokens(
    *,
    user: AbstractBaseUser,
    ip: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> IssuedTokens:
    """Start a new family for an already authenticated user (sign-up, SSO) and return its tokens."""
    now = now or timezone.now()
    conf = get_settings()
    absolute_expires_at = now + conf.refresh_token_absolute_lifetime
    family = RefreshTokenFamily.objects.create(
        user_id=user.pk,
        public_id=refresh_tokens.new_public_id(),
        secret=refresh_tokens.new_family_secret(),
        generation=0,
        created_at=now,
        last_used_at=now,
        idle_expires_at=min(now + conf.refresh_token_idle_lifetime, absolute_expires_at),
        absolute_expires_at=absolute_expires_at,
        user_agent=clean_user_agent(user_agent),
        ip_address=clean_ip(ip),
        password_fingerprint=password_fingerprint(user.password),
    )
    logger.info("tokenauth: family %s started for user %s", family.public_id, user.pk)
    revocation.send_on_commit(signals.token_issued, user=user, family_public_id=family.public_id)
    return _tokens(family, user, now=now)


def refresh(
    *, refresh_token: str, ip: str | None, user_agent: str, now: datetime | None = None
) -> IssuedTokens:
    """Rotate: spend the presented token and return its successor with a new access token.

    Raises ``InvalidRefreshToken`` (unknown, forged, expired, revoked, reused, inactive user,
    changed password). Reuse revokes the family; that revocation commits even so.
    """
    now = now or timezone.now()
    parsed = refresh_tokens.parse(refresh_token)
    if parsed is None:
        raise InvalidRefreshToken("malformed")
    with transaction.atomic():
        family = _genuine_family(parsed)
        if family is None:
            outcome: IssuedTokens | str = "forged"
        else:
            outcome = _rotate(family, parsed.generation, ip, user_agent, now)
    if isinstance(outcome, str):
        logger.info("tokenauth: refresh refused for family %s: %s", parsed.public_id, outcome)
        raise InvalidRefreshToken(outcome)
    return outcome


def logout(
    *, refresh_token: str, ip: str | None, user_agent: str, now: datetime | None = None
) -> None:
    """Revoke the token's family if the token is genuine; a spent one is reuse. Never raises
    for a bad token: logout is no oracle."""
    now = now or timezone.now()
    parsed = refresh_tokens.parse(refresh_token)
    if parsed is None:
        return
    with transaction.atomic():
        family = _genuine_family(parsed)
        if family is None:
            return
        verdict = _classify(family, parsed.generation, ip, user_agent, now)
        if verdict in ("current", "grace"):
            revocation.revoke_rows(revocation.row_of(family), RevocationReason.LOGOUT, now)
        elif verdict == "reuse":
            revocation.revoke_for_reuse(family, ip, user_agent, now)


def revoke_token(
    *, token: str, ip: str | None, user_agent: str, now: datetime | None = None
) -> None:
    """RFC 7009: revoke the family of a genuine refresh token or a fully valid access token.

    Unknown tokens are ignored (§2.2: the response is the same).
    """
    if refresh_tokens.parse(token) is not None:
        logout(refresh_token=token, ip=ip, user_agent=user_agent, now=now)
        return
    try:
        claims = decode_access_token(token)
    except InvalidAccessToken:
        return
    with transaction.atomic():
        family = revocation.lock(revocation.live(public_id=claims.family_public_id)).first()
        # Compared as text: ``sub`` is the claim's string, never cast into a query.
        if family is not None and str(family.user_id) == claims.user_id:
            revocation.revoke_rows(
                revocation.row_of(family), RevocationReason.LOGOUT, now or timezone.now()
            )


def revoke_family(
    *,
    family_public_id: str,
    reason: RevocationReason,
    user_pk: object | None = None,
    now: datetime | None = None,
) -> bool:
    """Revoke one live family (only the given user's, when ``user_pk`` is set).

    Returns whether it was live; one ``UPDATE``.
    """
    if not refresh_tokens.is_public_id(family_public_id):
        return False  # never send a NUL or 1 MB of text to the database
    filters: dict[str, object] = {"public_id": family_public_id}
    if user_pk is not None:
        filters["user_id"] = user_pk
    with transaction.atomic():
        return bool(
            revocation.revoke_matching(revocation.live(**filters), reason, now or timezone.now())
        )


def revoke_user(
    *, user: AbstractBaseUser, reason: RevocationReason, now: datetime | None = None
) -> int:
    """Revoke every live family of the user; returns how many."""
    with transaction.atomic():
        return revocation.revoke_matching(
            revocation.live(user_id=user.pk), reason, now or timezone.now()
        )


def live_families(
    *, user: AbstractBaseUser, now: datetime | None = None
) -> QuerySet[RefreshTokenFamily]:
    """The user's families that can still refresh, newest first."""
    now = now or timezone.now()
    return (
        revocation.live(user_id=user.pk)
        .filter(idle_expires_at__gt=now, absolute_expires_at__gt=now)
        .order_by("-created_at")
    )


# --- rotation ---------------------------------------------------------------------------


def _genuine_family(parsed: refresh_tokens.ParsedRefreshToken) -> RefreshTokenFamily | None:
    """The token's family, locked for the transaction, or None when its MAC is not genuine.

    A forged token never reaches a state change, whatever family it names.
    """
    family = _family_for_update(parsed.public_id)
    if family is None or not refresh_tokens.verify(parsed, family_secret=family.secret):
        return None
    return family


def _family_for_update(public_id: str) -> RefreshTokenFamily | None:
    features = connections[router.db_for_write(RefreshTokenFamily)].features
    families = RefreshTokenFamily.objects.filter(public_id=public_id)
    if features.has_select_for_update_of:
        # Lock the family row only, never the user row (PostgreSQL, MySQL).
        families = families.select_related("user").select_for_update(of=("self",))
    elif features.has_select_for_update:
        families = families.select_for_update()  # MariaDB: no OF; the user is read unlocked
    else:
        families = families.select_related("user")  # SQLite: the compare-and-set guards it
    return families.first()


def _classify(
    family: RefreshTokenFamily, generation: int, ip: str | None, user_agent: str, now: datetime
) -> Verdict:
    if family.revoked_at is not None:
        return "revoked"  # revoked on purpose or for reuse: no grace
    if generation == family.generation:
        return "current"
    if generation > family.generation:
        return "forged"  # a MAC for a generation not yet issued: invalid, never reuse
    grace = get_settings().reuse_grace_period
    if (
        grace > timedelta(0)  # 0 disables grace, even for a request that waited on the lock
        and generation == family.generation - 1
        and family.rotated_at is not None
        and now - family.rotated_at < grace
        # The same client as the rotation (network and agent): a thief elsewhere gets nothing.
        and client_binding_matches(ip=ip, user_agent=user_agent, binding=family.rotation_binding)
    ):
        return "grace"
    return "reuse"


def _rotate(
    family: RefreshTokenFamily,
    generation: int,
    ip: str | None,
    user_agent: str,
    now: datetime,
    *,
    retried: bool = False,
) -> IssuedTokens | str:
    verdict = _classify(family, generation, ip, user_agent, now)
    if verdict in ("revoked", "forged"):
        return verdict
    if verdict == "reuse":
        revocation.revoke_for_reuse(family, ip, user_agent, now)
        return "reused"
    problem = _unusable(family, now)
    if problem:
        return problem
    if verdict == "grace":
        # The same successor the first caller got; no row, expiry or last_used_at changes.
        revocation.send_on_commit(
            signals.token_refreshed,
            user=family.user,
            family_public_id=family.public_id,
            generation=family.generation,
            grace=True,
        )
        return _tokens(family, family.user, now=now)
    idle_expires_at = min(
        now + get_settings().refresh_token_idle_lifetime, family.absolute_expires_at
    )
    # Compare-and-set: whoever rotated first wins; on every backend, lock or no lock.
    rotated = revocation.live(pk=family.pk, generation=generation).update(
        generation=generation + 1,
        last_used_at=now,
        rotated_at=now,
        idle_expires_at=idle_expires_at,
        rotation_binding=client_binding(ip=ip, user_agent=user_agent),
        # Re-stamped under the current SECRET_KEY, so retiring a fallback logs nobody out.
        password_fingerprint=password_fingerprint(family.user.password),
    )
    if not rotated:
        if retried:
            return "conflict"
        family.refresh_from_db()
        return _rotate(family, generation, ip, user_agent, now, retried=True)
    family.generation = generation + 1
    family.idle_expires_at = idle_expires_at
    revocation.send_on_commit(
        signals.token_refreshed,
        user=family.user,
        family_public_id=family.public_id,
        generation=family.generation,
        grace=False,
    )
    return _tokens(family, family.user, now=now)


def _unusable(family: RefreshTokenFamily, now: datetime) -> str:
    """Why a genuine, unrevoked family cannot refresh, or ``""``."""
    if now >= family.idle_expires_at or now >= family.absolute_expires_at:
        return "expired"
    user = family.user
    # Also caught eagerly on save; this catches QuerySet.update(), which sends no signal.
    if not user.is_active:
        revocation.revoke_rows(revocation.row_of(family), RevocationReason.DEACTIVATED, now)
        return "inactive_user"
    if not password_fingerprint_matches(user.password, family.password_fingerprint):
        revocation.revoke_rows(revocation.row_of(family), RevocationReason.PASSWORD_CHANGED, now)
        return "password_changed"
    return ""


def _tokens(family: RefreshTokenFamily, user: AbstractBaseUser, *, now: datetime) -> IssuedTokens:
    conf = get_settings()
    access_expires_at = min(now + conf.access_token_lifetime, family.absolute_expires_at)
    access_token = encode_access_token(
        user_id=str(user.pk),
        family_public_id=family.public_id,
        password_version=password_fingerprint(user.password),
        now=now,
        expires_at=access_expires_at,
    )
    refresh_token = refresh_tokens.make_refresh_token(
        family_secret=family.secret, public_id=family.public_id, generation=family.generation
    )
    return IssuedTokens(
        access_token=access_token,
        access_token_expires_in=int(access_expires_at.timestamp()) - int(now.timestamp()),
        refresh_token=refresh_token,
        refresh_token_expires_in=max(0, int((family.expires_at - now).total_seconds())),
        family_public_id=family.public_id,
    )


def public_key_set() -> dict[str, list[dict[str, str]]]:
    """The RFC 7517 JWKS of the access-token verifying keys (empty for HS*)."""
    return keys.jwks()
