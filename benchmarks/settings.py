"""Settings for the benchmark process: tokenauth and its peers installed side by side.

``BENCH_DATABASE_URL`` picks PostgreSQL (a throwaway ``test_…`` database is created and
dropped); without it, a SQLite file in a temporary directory. ``BENCH_REDIS_URL`` puts the
cache (tokenauth's ``cache`` mode, the login throttle) on Redis; without it, LocMem.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta

from example_project.database_url import database_from_url

SECRET_KEY = "benchmark-only-secret-key-long-enough-for-hmac-0123456789abcdef"
DEBUG = False  # DEBUG keeps every query in memory; production does not
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "benchmarks.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "tokenauth",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "knox",
    "oauth2_provider",
]
# What a typical DRF project runs; every contender goes through the same stack.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # Django's default, used by login-slow
    "django.contrib.auth.hashers.MD5PasswordHasher",  # isolates token issuing in login-fast
]


def _database(url: str | None) -> dict[str, object]:
    if not url:
        path = os.path.join(tempfile.gettempdir(), f"tokenauth-bench-{os.getpid()}.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "TEST": {"NAME": path},
            "CONN_MAX_AGE": None,
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 10},
        }
    database = database_from_url(url)
    database["CONN_MAX_AGE"] = None  # persistent connections, as any production deployment
    database["TEST"] = {**database.get("TEST", {}), "NAME": f"test_tokenauth_bench_{os.getpid()}"}  # type: ignore[dict-item]
    return database


DATABASES = {"default": _database(os.environ.get("BENCH_DATABASE_URL"))}

if os.environ.get("BENCH_REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["BENCH_REDIS_URL"],
            "KEY_PREFIX": f"tokenauth-bench-{os.getpid()}",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# tokenauth's cache mode on an in-process cache too, whatever the default is (issue 9's target).
CACHES["locmem"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "tokenauth-bench-locmem",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

TOKENAUTH = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    # The throttle stays on (it is part of what a login costs) at a rate the loop never hits.
    "LOGIN_THROTTLE_RATE": "1000000/min",
}

# Peers configured as their docs recommend for rotating refresh tokens.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
REST_KNOX = {"TOKEN_TTL": timedelta(hours=10)}
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": 900,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 7 * 24 * 3600,
    "ROTATE_REFRESH_TOKEN": True,
    "PKCE_REQUIRED": False,
}

# The password grant is what oauth-toolkit offers for a username/password login; it logs a
# deprecation nag (RFC 9700) on every request, which would bury the table.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "WARNING"},
    "loggers": {"oauth2_provider": {"level": "ERROR"}},
}
