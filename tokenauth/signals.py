"""Signals tokenauth sends, always after commit and with ``send_robust``.

Every receiver gets the same keyword arguments (DESIGN §9): ``sender`` (``RefreshTokenFamily``),
``user_id`` (the user's pk, as the database returns it) and ``family_public_id`` (the ``sid``
claim, the admin's public id), plus the signal's own below. None of them is ever a token or a
family's secret; load the user with ``user_id`` if a receiver needs more.

- ``token_issued``: a family started (``login``, ``issue_tokens``, the simplejwt exchange).
- ``token_refreshed``: ``generation`` (the new refresh token's), ``grace`` (True for a retry
  inside the grace window that got the same successor again).
- ``family_revoked``: ``reason`` (a ``RevocationReason``); once per family, so revoking a
  user's three families sends three.
- ``refresh_token_reused``: ``ip`` (or None) and ``user_agent`` of the request that presented
  the spent token; sent once, by the request that revoked the family (which also sends
  ``family_revoked`` with reason ``reuse_detected``).
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["family_revoked", "refresh_token_reused", "token_issued", "token_refreshed"]

token_issued = Signal()
token_refreshed = Signal()
family_revoked = Signal()
refresh_token_reused = Signal()


def send_after_commit(signal: Signal, **kwargs: object) -> None:
    """Send ``signal`` once the families' database commits (at once outside a transaction),
    with ``send_robust``: a failing receiver is logged by Django and never undoes what
    committed; a rolled-back change sends nothing. tokenauth's own helper, not in ``__all__``."""
    from tokenauth import _db  # the model: signals is imported before the apps are ready
    from tokenauth.models import RefreshTokenFamily

    _db.on_commit(lambda: signal.send_robust(sender=RefreshTokenFamily, **kwargs))
