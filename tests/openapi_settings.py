"""The test project with drf-spectacular set up as its docs say (for tests/test_openapi.py's
``manage.py spectacular`` run): nothing of tokenauth's is configured for it. With simplejwt
installed, its URLs include the simplejwt contrib's too."""

from __future__ import annotations

import importlib.util

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, REST_FRAMEWORK

INSTALLED_APPS = [*INSTALLED_APPS, "drf_spectacular"]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
if importlib.util.find_spec("rest_framework_simplejwt"):
    ROOT_URLCONF = "tests.urls_simplejwt"
