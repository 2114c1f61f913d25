"""Settings for the custom-user-model suite: tests.settings with ``custom_user.EmailUser``."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.custom_user"]
AUTH_USER_MODEL = "custom_user.EmailUser"
ROOT_URLCONF = "tests.urls"
