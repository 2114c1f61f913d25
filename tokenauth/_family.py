"""A family's state changes, inside the caller's transaction: start one, classify a presented
refresh token, rotate it (compare-and-set), revoke, and revoke for reuse.

``service`` owns the transactions and calls these; the decision refresh and logout share is
``admit``. Signals and cache markers go out after commit.
"""

from __future__ import annotations

import enum
import hmac
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tokenauth import _db, _issued_tokens, _refresh_tokens, _revocation_cache, signals
from tokenauth._client_info import Client
from tokenauth._family_lookup import family_for_update, user_of
from tokenauth._fingerprints import (
    client_binding,
    client_binding_matches,
    password_version,
    password_version_matches,
)
from tokenauth._issued_tokens import IssuedTokens
from tokenauth.models import RefreshTokenFamily, RefreshTokenFamilyQuerySet, RevocationReason
from tokenauth.settings import get_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = [
    "Refusal",
    "Row",
    "Verdict",
    "admit",
    "classify",
    "dpop_key_fits",
    "genuine_family",
    "log_out",
    "revoke",
    "revoke_family",
    "revoke_for_reuse",
    "revoke_if_unusable",
    "revoke_rows",
    "rotate",
    "start_family",
]

logger = logging.getLogger(__name__)

Row = tuple[int, str, object]  # pk, public_id, user_id


class Refusal(str, enum.Enum):
    """Why a refresh token buys nothing: for logs and signals, never for the client."""

    MALFORMED = "malformed"  # not shaped like one of ours
    FORGED = "forged"  # no genuine MAC, or one for a generation not yet issued
    REVOKED = "revoked"  # revoked on purpose or for reuse: no grace
    REUSED = "reused"  # an earlier generation: the family is revoked now
    EXPIRED = "expired"
    INACTIVE_USER = "inactive_user"
    PASSWORD_CHANGED = "password_changed"
    EXHAUSTED = "exhausted"  # ten billion refreshes: the format has no eleventh digit
    CONFLICT = "conflict"  # lost the compare-and-set twice
    DPOP_KEY = "dpop_key"  # a bound family, and no proof by its key: nothing changes

    def __str__(self) -> str:
        return self.value


class Verdict(enum.Enum):
    """What a genuine token of a live family is, before anything changes."""

    CURRENT = "current"  # the family's current generation: it rotates
    GRACE = "grace"  # the preceding one, again, soon, from the same client: same successor
    REUSE = "reuse"  # any earlier one


def start_family(
    *, user: AbstractBaseUser, client: Client, now: datetime, dpop_jkt: str | None = None
) -> IssuedTokens:
    """A new family for ``user`` and its first tokens; ``token_issued`` after commit. With
    ``dpop_jkt`` (a checked proof's key) the family is bound to that key from the start."""
    conf = get_settings()
    absolute_expires_at = now + conf.refresh_token_absolute_lifetime
    family = _db.families().create(
        user_id=user.pk,
        public_id=_refresh_tokens.new_public_id(),
        secret=_refresh_tokens.new_family_secret(),
        generation=0,
        created_at=now,
        last_used_at=now,
        idle_expires_at=min(now + conf.refresh_token_idle_lifetime, absolute_expires_at),
        absolute_expires_at=absolute_expires_at,
        user_agent=client.stored_user_agent,
        ip_address=client.stored_ip,
        password_version=password_version(user.password),
        dpop_jkt=dpop_jkt,
    )
    logger.info("tokenauth: family %s started for user %s", family.public_id, user.pk)
    signals.send_after_commit(
        signals.token_issued, user_id=user.pk, family_public_id=family.public_id
    )
    return _issued_tokens.mint_tokens(family, user, now=now)


def genuine_family(parsed: _refresh_tokens.ParsedRefreshToken) -> RefreshTokenFamily | None:
    """The token's family, locked for the transaction, or None when its MAC is not genuine.

    A forged token never reaches a state change, whatever family it names.
    """
    family = family_for_update(parsed.public_id)
    if family is None or not _refresh_tokens.verify(parsed, family_secret=family.secret):
        return None
    return family


def classify(
    family: RefreshTokenFamily, generation: int, client: Client, now: datetime
) -> Verdict | Refusal:
    """What the presented generation of a genuine token is; changes nothing."""
    if family.revoked_at is not None:
        return Refusal.REVOKED
    if generation == family.generation:
        return Verdict.CURRENT
    if generation > family.generation:
        return Refusal.FORGED  # a MAC for a generation not yet issued: invalid, never reuse
    grace = get_settings().reuse_grace_period
    if (
        grace > timedelta(0)  # 0 disables grace, even for a request that waited on the lock
        and generation == family.generation - 1
        and family.rotated_at is not None
        and now - family.rotated_at < grace
        # The same client as the rotation (network and agent): a thief elsewhere gets nothing.
        and client_binding_matches(
            ip=client.ip, user_agent=client.user_agent, binding=family.client_binding
        )
    ):
        return Verdict.GRACE
    return Verdict.REUSE


def admit(
    family: RefreshTokenFamily, generation: int, client: Client, now: datetime
) -> Verdict | Refusal:
    """The decision refresh and logout share: ``CURRENT`` or ``GRACE`` admits the token; a
    spent one revokes the family for reuse and is ``Refusal.REUSED``; else the refusal."""
    verdict = classify(family, generation, client, now)
    if verdict is Verdict.REUSE:
        revoke_for_reuse(family, client, now)
        return Refusal.REUSED
    return verdict


def rotate(
    family: RefreshTokenFamily,
    generation: int,
    client: Client,
    now: datetime,
    *,
    dpop_jkt: str | None = None,
    retried: bool = False,
) -> IssuedTokens | Refusal:
    """Spend the presented token: the successor pair, or why there is none.

    ``dpop_jkt`` is the key of the request's checked DPoP proof (None: no proof). A bound
    family refuses anything but its own key before any decision (``Refusal.DPOP_KEY``: no
    rotation, no reuse revocation: a thief without the key cannot end the owner's session);
    an unbound family is bound by the rotation a proof comes with.
    """
    if not dpop_key_fits(family, dpop_jkt):
        return Refusal.DPOP_KEY
    admitted = admit(family, generation, client, now)
    if isinstance(admitted, Refusal):
        return admitted
    refusal = revoke_if_unusable(family, now)
    if refusal is not None:
        return refusal
    if admitted is Verdict.CURRENT:
        if generation >= _refresh_tokens.MAX_GENERATION:
            return Refusal.EXHAUSTED
        if not _compare_and_set(family, generation, client, now, dpop_jkt):
            if retried:
                return Refusal.CONFLICT
            # Someone rotated (or revoked) first: now grace, reuse or revoked. The re-read
            # locks the row: a plain read may return the transaction's snapshot, stale.
            user = family.user  # read with the family; refresh_from_db() would drop it
            family.refresh_from_db(from_queryset=_db.families().locked())
            family.user = user
            return rotate(family, generation, client, now, dpop_jkt=dpop_jkt, retried=True)
    # On grace: the same successor the first caller got; no row, expiry or last_used_at changes.
    signals.send_after_commit(
        signals.token_refreshed,
        user_id=family.user_id,
        family_public_id=family.public_id,
        generation=family.generation,
        grace=admitted is Verdict.GRACE,
    )
    return _issued_tokens.mint_tokens(family, family.user, now=now)


def dpop_key_fits(family: RefreshTokenFamily, dpop_jkt: str | None) -> bool:
    """Whether a request whose proof has key ``dpop_jkt`` (None: no proof) may use the family."""
    if family.dpop_jkt is None:
        return True
    return dpop_jkt is not None and hmac.compare_digest(family.dpop_jkt, dpop_jkt)


def log_out(family: RefreshTokenFamily, generation: int, client: Client, now: datetime) -> None:
    """Logout with a genuine token, decided as refresh decides: the token refresh would admit
    revokes the family (``logout``), a spent one is reuse, any other changes nothing."""
    if not isinstance(admit(family, generation, client, now), Refusal):
        revoke_family(family, RevocationReason.LOGOUT, now)


def _compare_and_set(
    family: RefreshTokenFamily,
    generation: int,
    client: Client,
    now: datetime,
    dpop_jkt: str | None,
) -> bool:
    """Advance the generation if nobody else did; on every backend, lock or no lock. The first
    proof binds an unbound family (in the same ``UPDATE``); a bound one is never unbound."""
    idle_expires_at = min(
        now + get_settings().refresh_token_idle_lifetime, family.absolute_expires_at
    )
    binding = {"dpop_jkt": dpop_jkt} if family.dpop_jkt is None and dpop_jkt else {}
    rotated = (
        _db.families()
        .live()
        .filter(pk=family.pk, generation=generation)
        .update(
            generation=generation + 1,
            last_used_at=now,
            rotated_at=now,
            idle_expires_at=idle_expires_at,
            client_binding=client_binding(ip=client.ip, user_agent=client.user_agent),
            # Re-stamped under the current SECRET_KEY, so retiring a fallback logs nobody out.
            password_version=password_version(family.user.password),
            **binding,
        )
    )
    if rotated:
        family.generation = generation + 1
        family.idle_expires_at = idle_expires_at
        family.dpop_jkt = binding.get("dpop_jkt", family.dpop_jkt)
    return bool(rotated)


def revoke_if_unusable(family: RefreshTokenFamily, now: datetime) -> Refusal | None:
    """Why a genuine, unrevoked family cannot refresh, or None. An inactive user or a changed
    password revokes the family on the way (an expired one stays as it is)."""
    if now >= family.idle_expires_at or now >= family.absolute_expires_at:
        return Refusal.EXPIRED
    user = user_of(family)  # the first use of the user on every path that mints
    # Also caught eagerly on save; this catches QuerySet.update(), which sends no signal.
    if not user.is_active:
        revoke_family(family, RevocationReason.DEACTIVATED, now)
        return Refusal.INACTIVE_USER
    if not password_version_matches(user.password, family.password_version):
        revoke_family(family, RevocationReason.PASSWORD_CHANGED, now)
        return Refusal.PASSWORD_CHANGED
    return None


def revoke(families: RefreshTokenFamilyQuerySet, reason: RevocationReason, now: datetime) -> int:
    """Revoke the live families among ``families``; returns how many. A locking read names
    them for the signals, then one ``UPDATE``."""
    rows = list(families.live().locked().values_list("pk", "public_id", "user_id"))
    return revoke_rows(rows, reason, now)


def revoke_family(family: RefreshTokenFamily, reason: RevocationReason, now: datetime) -> bool:
    """Revoke a family the caller has read (and locked); False if someone else did first."""
    return bool(revoke_rows([(family.pk, family.public_id, family.user_id)], reason, now))


def revoke_rows(rows: Sequence[Row], reason: RevocationReason, now: datetime) -> int:
    """One ``UPDATE ... WHERE revoked_at IS NULL`` for all rows; signals and cache markers
    after commit, only for a change this call made."""
    if not rows:
        return 0
    count = (
        _db.families()
        .live()
        .filter(pk__in=[pk for pk, _, _ in rows])
        .update(revoked_at=now, revocation_reason=reason)
    )
    if not count:
        return 0  # revoked meanwhile by someone else, who signals
    _announce(rows, reason)
    public_ids = ", ".join(public_id for _, public_id, _ in rows)
    logger.info("tokenauth: revoked %d families (%s): %s", count, reason, public_ids)
    return count


def revoke_for_reuse(family: RefreshTokenFamily, client: Client, now: datetime) -> None:
    """Revoke the family for reuse in one UPDATE, recording the attempt; only the request
    whose UPDATE changed the row signals."""
    changed = (
        _db.families()
        .live()
        .filter(pk=family.pk)
        .update(
            revoked_at=now,
            revocation_reason=RevocationReason.REUSE_DETECTED,
            reuse_detected_at=now,
            reuse_ip_address=client.stored_ip,
            reuse_user_agent=client.stored_user_agent,
        )
    )
    if not changed:
        return
    logger.warning(
        "tokenauth: refresh token reuse in family %s of user %s from %s, agent %r",
        family.public_id,
        family.user_id,
        client.stored_ip,
        client.user_agent[:255],
    )
    _announce([(family.pk, family.public_id, family.user_id)], RevocationReason.REUSE_DETECTED)
    signals.send_after_commit(
        signals.refresh_token_reused,
        user_id=family.user_id,
        family_public_id=family.public_id,
        ip=client.stored_ip,
        user_agent=client.stored_user_agent,
    )


def _announce(rows: Sequence[Row], reason: RevocationReason) -> None:
    """After commit: cache markers (cache mode) and one ``family_revoked`` per family."""
    public_ids = tuple(public_id for _, public_id, _ in rows)
    _db.on_commit(lambda: _revocation_cache.mark_revoked(public_ids))
    for _, public_id, user_id in rows:
        signals.send_after_commit(
            signals.family_revoked, user_id=user_id, family_public_id=public_id, reason=reason
        )
