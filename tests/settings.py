"""Test settings: in-memory SQLite; PostgreSQL or MariaDB/MySQL and Redis when DATABASE_URL and
REDIS_URL are set."""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta

from example_project.database_url import database_from_url

SECRET_KEY = "tests-only-secret-key-that-is-long-enough-for-hmac-0123456789"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "tokenauth",
    "axes",  # off (AXES_ENABLED below); tests/test_axes.py turns it on
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
# django-cors-headers set up as docs/browsers.md says, for tests/test_browser_cross_origin.py, which
# points CORS_URLS_REGEX at the API; until then it matches no path and the middleware adds
# nothing (not even Vary). Without the package that test is skipped.
if importlib.util.find_spec("corsheaders") is not None:
    INSTALLED_APPS.append("corsheaders")
    MIDDLEWARE.insert(0, "corsheaders.middleware.CorsMiddleware")
    CORS_URLS_REGEX = r"(?!)"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# django-axes: installed so its tables exist, off so it costs nothing outside tests/test_axes.py
# (its receivers and backend check AXES_ENABLED first). Its middleware and backend warnings are
# silenced rather than the middleware and backend installed for every test.
AXES_ENABLED = False
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
SILENCED_SYSTEM_CHECKS = ["axes.W002", "axes.W003"]

# Fast hashing for tests; a test that needs the rehash path overrides it.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _database(url: str | None, test_name: str) -> dict[str, object]:
    if not url:
        # Django names each alias's in-memory test database after the alias: two databases.
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    database = database_from_url(url)
    # Each run's own test database; on MySQL/MariaDB the server's default collation stays
    # (utf8mb4_general_ci here), which the public id column must not inherit.
    database["TEST"] = {**database.get("TEST", {}), "NAME": f"{test_name}_{os.getpid()}"}  # type: ignore[dict-item]
    return database


DATABASES = {
    "default": _database(os.environ.get("DATABASE_URL"), "test_tokenauth"),
    # Only tests/test_database_routers.py asks for it (pytest-django creates it for them
    # alone), with tests/routers.py sending the auth tables and tokenauth's there.
    "auth": _database(os.environ.get("DATABASE_URL"), "test_tokenauth_auth"),
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if os.environ.get("REDIS_URL"):
    CACHES["redis"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
        "KEY_PREFIX": f"tokenauth-tests-{os.getpid()}",
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tokenauth.authentication.AccessTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

TOKENAUTH = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "LOGIN_THROTTLE_RATE": None,  # tests of the throttle turn it on
    # Tests of DPoP turn it on: on this LocMem cache with DEBUG off it would be W005.
    "DPOP": "off",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"tokenauth": {"handlers": ["null"], "level": "DEBUG"}},
}
