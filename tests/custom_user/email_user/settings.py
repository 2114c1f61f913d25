"""tests.settings with ``email_user.EmailUser``: keyed by email, no ``is_active`` column."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.custom_user.email_user"]
AUTH_USER_MODEL = "email_user.EmailUser"
