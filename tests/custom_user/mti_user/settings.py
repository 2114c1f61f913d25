"""tests.settings with ``mti_user.Member``: a user row that extends a concrete ``Person`` row."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.custom_user.mti_user"]
AUTH_USER_MODEL = "mti_user.Member"
