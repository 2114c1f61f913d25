"""tests.settings with ``uuid_user.UUIDUser``: a UUID primary key."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.custom_user.uuid_user"]
AUTH_USER_MODEL = "uuid_user.UUIDUser"
