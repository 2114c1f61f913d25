"""The domain's façade: log in, refresh, revoke. Plain functions; never sees a request.

Every exception it raises for callers derives from ``TokenAuthError``: ``InvalidCredentials``,
``LoginThrottled``, ``InvalidRefreshToken``, ``DPoPKeyMismatch``, ``InvalidAccessToken``,
``AccessTokenRefused``, ``TemporarilyUnavailable`` and ``KeyMaterialError``, all exported here.

DPoP (DESIGN §8): the HTTP layer checks the proof (``tokenauth.dpop``) and passes its key's
thumbprint as ``dpop_jkt=``; binding a family to it, and refusing another key, happen here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.contrib.auth.signals import user_logged_in
from django.utils import timezone

from tokenauth import (
    _db,
    _family,
    _purge,
    _refresh_tokens,
    _revocation_cache,
    _token_users,
    keys,
)
from tokenauth._client_info import Client
from tokenauth._exceptions import (
    AccessTokenRefused,
    DPoPKeyMismatch,
    InvalidCredentials,
    InvalidRefreshToken,
    KeyMaterialError,
    LoginThrottled,
    TemporarilyUnavailable,
    TokenAuthError,
)
from tokenauth._family import Refusal
from tokenauth._issued_tokens import IssuedTokens
from tokenauth._purge import PurgeBatch, PurgeResult
from tokenauth._token_users import TokenUser
from tokenauth.access import (
    AccessClaims,
    InvalidAccessToken,
    decode_access_token,
)
from tokenauth.models import RevocationReason

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

__all__ = [
    "AccessTokenRefused",
    "ActiveSession",
    "DPoPKeyMismatch",
    "InvalidAccessToken",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "IssuedTokens",
    "KeyMaterialError",
    "LoginThrottled",
    "PurgeBatch",
    "PurgeResult",
    "RevocationReason",
    "TemporarilyUnavailable",
    "TokenAuthError",
    "TokenUser",
    "issue_tokens",
    "live_families",
    "load_user",
    "login",
    "login_with_password",
    "logout",
    "public_key_set",
    "purge_expired",
    "refresh",
    "revoke_families",
    "revoke_family",
    "revoke_token",
    "revoke_user",
    "user_for_access_token",
    "user_for_claims",
]

logger = logging.getLogger(__name__)


def login(
    *,
    user: AbstractBaseUser,
    ip: str | None,
    user_agent: str,
    now: datetime | None = None,
    request: HttpRequest | None = None,
    dpop_jkt: str | None = None,
) -> IssuedTokens:
    """Start a family for a user the caller has authenticated; sends ``user_logged_in``.
    With ``dpop_jkt`` (a checked DPoP proof's key) the family is bound to that key.

    ``request`` goes to the signal untouched, never read here: receivers such as django-axes'
    need it. A receiver that raises leaves no family. Raises ``InvalidCredentials`` for an
    inactive user, ``TemporarilyUnavailable`` (before any signal) as ``issue_tokens`` does.
    """
    if not user.is_active:
        raise InvalidCredentials("inactive user")
    _revocation_cache.require_readable()
    with _db.atomic():
        # The signal first: Django's update_last_login takes the user row's exclusive lock
        # before the family's foreign key check takes a shared one, so two logins of one
        # user queue on InnoDB instead of deadlocking (each holding the shared lock).
        user_logged_in.send(sender=type(user), request=request, user=user)
        return _family.start_family(
            user=user, client=Client(ip, user_agent), now=now or timezone.now(), dpop_jkt=dpop_jkt
        )


def login_with_password(
    *,
    username: str,
    authenticate: Callable[[], AbstractBaseUser | None],
    ip: str | None,
    user_agent: str,
    request: HttpRequest | None = None,
    now: datetime | None = None,
    dpop_jkt: str | None = None,
) -> IssuedTokens:
    """A password login under the login throttle (DESIGN §2), then ``login``.

    ``authenticate`` is the caller's call of Django's ``authenticate()`` with its request, so
    other backends, lockout apps and ``user_login_failed`` apply; it runs only once the
    attempt holds its place in the throttle's counters. Raises ``LoginThrottled``,
    ``InvalidCredentials`` (also for an inactive user), ``TemporarilyUnavailable``, and the
    database's own error when it fails mid-hash (no guess was answered: not a failure).
    """
    from tokenauth import _password_login  # it imports _receivers, which import this module

    user = _password_login.checked_user(username=username, authenticate=authenticate, ip=ip)
    return login(
        user=user, ip=ip, user_agent=user_agent, now=now, request=request, dpop_jkt=dpop_jkt
    )


def issue_tokens(
    *,
    user: AbstractBaseUser,
    ip: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
    dpop_jkt: str | None = None,
) -> IssuedTokens:
    """Start a new family for an already authenticated user (sign-up, SSO) and return its tokens;
    bound to the DPoP key ``dpop_jkt`` when given.

    Raises ``TemporarilyUnavailable`` when the revocation cache is load-bearing and unreadable.
    """
    _revocation_cache.require_readable()
    return _family.start_family(
        user=user, client=Client(ip, user_agent), now=now or timezone.now(), dpop_jkt=dpop_jkt
    )


def refresh(
    *,
    refresh_token: str,
    ip: str | None,
    user_agent: str,
    now: datetime | None = None,
    dpop_jkt: str | None = None,
) -> IssuedTokens:
    """Rotate: spend the presented token and return its successor with a new access token.

    ``dpop_jkt``: the key of the request's checked DPoP proof. It binds an unbound family; a
    bound family without it (or with another key) raises ``DPoPKeyMismatch`` and nothing
    changes. Raises ``InvalidRefreshToken`` (unknown, forged, expired, revoked, reused,
    inactive user, changed password). Reuse revokes the family; that revocation commits even
    so. Raises ``TemporarilyUnavailable``, before anything is spent, when the revocation cache is
    load-bearing and unreadable.
    """
    _revocation_cache.require_readable()
    now = now or timezone.now()
    parsed = _refresh_tokens.parse(refresh_token)
    if parsed is None:
        raise InvalidRefreshToken(Refusal.MALFORMED)
    client = Client(ip, user_agent)
    with _db.atomic():
        family = _family.genuine_family(parsed)
        if family is None:
            outcome: IssuedTokens | Refusal = Refusal.FORGED
        else:
            outcome = _family.rotate(family, parsed.generation, client, now, dpop_jkt=dpop_jkt)
    if outcome is Refusal.DPOP_KEY:
        logger.info("tokenauth: refresh of DPoP-bound family %r without its key", parsed.public_id)
        raise DPoPKeyMismatch("the family is bound to another DPoP key")
    if isinstance(outcome, Refusal):
        logger.info("tokenauth: refresh refused for family %r: %s", parsed.public_id, outcome)
        raise InvalidRefreshToken(outcome)
    return outcome


def logout(
    *, refresh_token: str, ip: str | None, user_agent: str, now: datetime | None = None
) -> None:
    """Revoke the token's family if the token is genuine; a spent one is reuse. Never raises
    for a bad token: logout is no oracle."""
    now = now or timezone.now()
    parsed = _refresh_tokens.parse(refresh_token)
    if parsed is None:
        return
    with _db.atomic():
        family = _family.genuine_family(parsed)
        if family is not None:
            _family.log_out(family, parsed.generation, Client(ip, user_agent), now)


def revoke_token(
    *, token: str, ip: str | None, user_agent: str, now: datetime | None = None
) -> None:
    """RFC 7009: revoke the family of a genuine refresh token or a fully valid access token.

    Unknown tokens are ignored (§2.2: the response is the same).
    """
    if _refresh_tokens.parse(token) is not None:
        logout(refresh_token=token, ip=ip, user_agent=user_agent, now=now)
        return
    try:
        claims = decode_access_token(token)
    except InvalidAccessToken:
        return
    with _db.atomic():
        families = _db.families().live().filter(public_id=claims.family_public_id)
        family = families.locked().first()
        # Compared as text: ``sub`` is the claim's string, never cast into a query.
        if family is not None and str(family.user_id) == claims.user_id:
            _family.revoke_family(family, RevocationReason.LOGOUT, now or timezone.now())


def revoke_family(
    *,
    family_public_id: str,
    reason: RevocationReason,
    user_pk: object | None = None,
    now: datetime | None = None,
) -> bool:
    """Revoke one live family (only the given user's, when ``user_pk`` is set).

    Returns whether it was live. A locking read names the family for the signal, then one
    ``UPDATE ... WHERE revoked_at IS NULL`` revokes it.
    """
    if not _refresh_tokens.is_public_id(family_public_id):
        return False  # never send a NUL or 1 MB of text to the database
    filters: dict[str, object] = {"public_id": family_public_id}
    if user_pk is not None:
        filters["user_id"] = user_pk
    with _db.atomic():
        families = _db.families().filter(**filters)
        return bool(_family.revoke(families, reason, now or timezone.now()))


def revoke_families(
    *,
    family_public_ids: Iterable[str],
    reason: RevocationReason,
    now: datetime | None = None,
) -> int:
    """Revoke the live families among ``family_public_ids`` (admin, command); returns how many."""
    public_ids = [p for p in family_public_ids if _refresh_tokens.is_public_id(p)]
    with _db.atomic():
        families = _db.families().filter(public_id__in=public_ids)
        return _family.revoke(families, reason, now or timezone.now())


def revoke_user(
    *, user: AbstractBaseUser, reason: RevocationReason, now: datetime | None = None
) -> int:
    """Revoke every live family of the user; returns how many."""
    with _db.atomic():
        families = _db.families().filter(user_id=user.pk)
        return _family.revoke(families, reason, now or timezone.now())


def revoke_all_families(
    *, reason: RevocationReason, now: datetime | None = None
) -> tuple[int, int]:
    """Revoke every live family of every user: (families, users). One count, one locking read
    and one ``UPDATE``; a ``family_revoked`` per family and the cache markers after commit."""
    with _db.atomic():
        families = _db.families()
        users = families.live().values("user_id").distinct().count()
        return _family.revoke(families, reason, now or timezone.now()), users


@dataclass(frozen=True)
class ActiveSession:
    """A live family as its owner sees it (``sessions/``)."""

    public_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
    ip_address: str | None


def live_families(
    *, user: AbstractBaseUser, now: datetime | None = None
) -> tuple[ActiveSession, ...]:
    """The user's families that can still refresh, newest first."""
    now = now or timezone.now()
    families = (
        _db.families()
        .live()
        .filter(user_id=user.pk, idle_expires_at__gt=now, absolute_expires_at__gt=now)
        .order_by("-created_at")
    )
    return tuple(
        ActiveSession(
            public_id=family.public_id,
            created_at=family.created_at,
            last_used_at=family.last_used_at,
            expires_at=family.expires_at,
            user_agent=family.user_agent,
            ip_address=family.ip_address,
        )
        for family in families
    )


def user_for_access_token(claims: AccessClaims) -> AbstractBaseUser | None:
    """``database`` mode: the token's user if its family is live, in ONE query (a join).

    None when the family is revoked or unknown, the user inactive or their password changed
    (caught through the password version even after a ``QuerySet.update()``).
    """
    return _token_users.user_for_access_token(claims)


def user_for_claims(*, claims: AccessClaims) -> TokenUser:
    """Whom a verified access token speaks for, checked as ``ACCESS_TOKEN_REVOCATION`` says
    (``database``: one query; ``cache``: the family's marker, an unreadable cache following
    ``CACHE_FAILURE``; ``none``: nothing). Without ``user`` set, ``load_user`` loads it.

    Raises ``AccessTokenRefused`` (its ``reason``: revoked, unverifiable, invalid_subject) or
    ``TemporarilyUnavailable`` (the database locked or lost).
    """
    return _token_users.user_for_claims(claims)


def load_user(*, user_pk: object, password_version: str | None) -> AbstractBaseUser:
    """The active user of ``user_pk`` whose password is still the token's (``password_version``
    None checks nothing), from the families' database. Raises ``AccessTokenRefused`` (gone,
    inactive, password changed) or ``TemporarilyUnavailable``."""
    return _token_users.load_user(user_pk, password_version)


def purge_expired(
    *,
    now: datetime | None = None,
    batch_size: int = 10_000,
    keep_revoked_for: timedelta = timedelta(days=7),
    dry_run: bool = False,
    on_batch: Callable[[PurgeBatch], object] | None = None,
) -> PurgeResult:
    """Delete families that can never refresh again, in primary-key ranges of ``batch_size``
    rows, each range its own transaction; ``on_batch`` hears of each once it has committed.

    Expired families go at once; revoked ones are kept ``keep_revoked_for`` (their reuse
    records are evidence). A deleted family's tokens are simply unknown, never reuse. A dry
    run returns what would be deleted and deletes nothing. Raises ``ValueError`` for a
    ``batch_size`` below 1 or a negative ``keep_revoked_for``.
    """
    return _purge.purge(
        now=now or timezone.now(),
        batch_size=batch_size,
        keep_revoked_for=keep_revoked_for,
        dry_run=dry_run,
        on_batch=on_batch,
    )


def public_key_set() -> dict[str, list[dict[str, str]]]:
    """The RFC 7517 JWKS of the access-token verifying keys (empty for HS*)."""
    return keys.jwks()
