"""Signals tokenauth sends, always after commit and with ``send_robust``.

Receivers get keyword arguments only; none of them is ever a raw token.

- ``token_issued``: ``user``, ``family_public_id`` (a login or ``issue_tokens``).
- ``token_refreshed``: ``user``, ``family_public_id``, ``generation``, ``grace`` (a retry
  inside the grace window that got the same successor).
- ``family_revoked``: ``user_id``, ``family_public_ids`` (a tuple), ``reason``.
- ``refresh_token_reused``: ``user_id``, ``family_public_id``, ``ip_address``, ``user_agent``,
  ``detected_at``; sent once, by the request that revoked the family.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["family_revoked", "refresh_token_reused", "token_issued", "token_refreshed"]

token_issued = Signal()
token_refreshed = Signal()
family_revoked = Signal()
refresh_token_reused = Signal()
