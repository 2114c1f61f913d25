"""tests.settings with simplejwt's token_blacklist app and non-default simplejwt settings.

simplejwt decides at import whether its tokens use the blacklist, and binds its settings then
too, so this variant runs in a process of its own (tests/test_contrib_simplejwt.py starts it).
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework_simplejwt.token_blacklist"]
SIMPLE_JWT = {
    "USER_ID_FIELD": "username",
    "USER_ID_CLAIM": "uid",
    "SIGNING_KEY": "simplejwt-variant-signing-key-0123456789abcdef0123456789",
    # Off here so that the contrib's own is_active check is what refuses inactive users.
    "CHECK_USER_IS_ACTIVE": False,
    # Tokens carry a hash of the password hash: a password change refuses them.
    "CHECK_REVOKE_TOKEN": True,
}
