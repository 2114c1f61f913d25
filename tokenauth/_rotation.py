"""One refresh, inside the caller's transaction: classify the token's generation, then grace,
reuse or a compare-and-set rotation. Also mints the token pair a family hands out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from tokenauth import _db, _extensions, _refresh_tokens, _revocation, signals
from tokenauth._family_lookup import family_for_update, user_of
from tokenauth._fingerprints import (
    client_binding,
    client_binding_matches,
    password_fingerprint,
    password_fingerprint_matches,
)
from tokenauth.access import encode_access_token
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.settings import get_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

Verdict = Literal["current", "grace", "reuse", "revoked", "forged"]


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str = field(repr=False)
    access_token_expires_in: int  # seconds
    refresh_token: str = field(repr=False)
    refresh_token_expires_in: int  # seconds until the family's idle (capped absolute) expiry
    family_public_id: str
    # TOKEN_RESPONSE_FIELDS, computed with the token so that a refusal rolls the mint back.
    response_fields: Mapping[str, object] = field(
        default_factory=lambda: _extensions.NOTHING, repr=False, hash=False
    )


def genuine_family(parsed: _refresh_tokens.ParsedRefreshToken) -> RefreshTokenFamily | None:
    """The token's family, locked for the transaction, or None when its MAC is not genuine.

    A forged token never reaches a state change, whatever family it names.
    """
    family = family_for_update(parsed.public_id)
    if family is None or not _refresh_tokens.verify(parsed, family_secret=family.secret):
        return None
    return family


def classify(
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


def rotate(
    family: RefreshTokenFamily,
    generation: int,
    ip: str | None,
    user_agent: str,
    now: datetime,
    *,
    retried: bool = False,
) -> IssuedTokens | str:
    """The successor pair, or why there is none (a reason for logs: ``reused``, ``expired``...)."""
    verdict = classify(family, generation, ip, user_agent, now)
    if verdict in ("revoked", "forged"):
        return verdict
    if verdict == "reuse":
        _revocation.revoke_for_reuse(family, ip, user_agent, now)
        return "reused"
    problem = unusable(family, now)
    if problem:
        return problem
    if verdict == "current" and generation >= _refresh_tokens.MAX_GENERATION:
        return "exhausted"  # ten billion refreshes: the token format has no eleventh digit
    if verdict == "current" and not _compare_and_set(family, generation, ip, user_agent, now):
        if retried:
            return "conflict"
        # Someone rotated (or revoked) first: now grace, reuse or revoked. The re-read locks
        # the row: a plain read may return the transaction's snapshot, the stale generation.
        user = family.user  # read with the family; refresh_from_db() would drop it
        family.refresh_from_db(from_queryset=_revocation.lock(_db.families()))
        family.user = user
        return rotate(family, generation, ip, user_agent, now, retried=True)
    # On grace: the same successor the first caller got; no row, expiry or last_used_at changes.
    _revocation.send_on_commit(
        signals.token_refreshed,
        user_id=family.user_id,
        family_public_id=family.public_id,
        generation=family.generation,
        grace=verdict == "grace",
    )
    return mint_tokens(family, family.user, now=now)


def _compare_and_set(
    family: RefreshTokenFamily, generation: int, ip: str | None, user_agent: str, now: datetime
) -> bool:
    """Advance the generation if nobody else did; on every backend, lock or no lock."""
    idle_expires_at = min(
        now + get_settings().refresh_token_idle_lifetime, family.absolute_expires_at
    )
    rotated = _revocation.live(pk=family.pk, generation=generation).update(
        generation=generation + 1,
        last_used_at=now,
        rotated_at=now,
        idle_expires_at=idle_expires_at,
        rotation_binding=client_binding(ip=ip, user_agent=user_agent),
        # Re-stamped under the current SECRET_KEY, so retiring a fallback logs nobody out.
        password_fingerprint=password_fingerprint(family.user.password),
    )
    if rotated:
        family.generation = generation + 1
        family.idle_expires_at = idle_expires_at
    return bool(rotated)


def unusable(family: RefreshTokenFamily, now: datetime) -> str:
    """Why a genuine, unrevoked family cannot refresh, or ``""``."""
    if now >= family.idle_expires_at or now >= family.absolute_expires_at:
        return "expired"
    user = user_of(family)  # the first use of the user on every path that mints
    # Also caught eagerly on save; this catches QuerySet.update(), which sends no signal.
    if not user.is_active:
        _revocation.revoke_rows(_revocation.row_of(family), RevocationReason.DEACTIVATED, now)
        return "inactive_user"
    if not password_fingerprint_matches(user.password, family.password_fingerprint):
        _revocation.revoke_rows(_revocation.row_of(family), RevocationReason.PASSWORD_CHANGED, now)
        return "password_changed"
    return ""


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
        password_version=password_fingerprint(user.password),
        now=now,
        expires_at=access_expires_at,
        extra_claims=extra_claims,
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
        response_fields=response_fields,
    )
