"""The example project: tokenauth installed the way the README tells a user to.

SQLite by default (no services needed); ``DATABASE_URL`` (postgres://... or mysql://...) and
``REDIS_URL`` (redis://...) switch to PostgreSQL or MariaDB/MySQL and Redis, as in production.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta
from pathlib import Path

from example_project.database_url import database_from_url, is_mysql

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "demo-only-secret-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
)
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the demo page's script

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "tokenauth",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # the demo page
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


def _database() -> dict[str, object]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            # Take the write lock at BEGIN: concurrent refreshes queue instead of failing.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 10},
        }
    database = {**database_from_url(url), "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}
    if is_mysql(url):
        # InnoDB waits 50 s for a row lock by default; an API client gives up long before.
        database["OPTIONS"] = {
            **database["OPTIONS"],  # type: ignore[dict-item]
            "init_command": "SET SESSION innodb_lock_wait_timeout = 5",
        }
    return database


DATABASES = {"default": _database()}

if os.environ.get("REDIS_URL"):
    # Shared by every process: login throttle counters and cache-mode revocation markers.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        }
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tokenauth.authentication.AccessTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

if importlib.util.find_spec("drf_spectacular"):  # the openapi extra: /api/schema/, /api/docs/
    INSTALLED_APPS.append("drf_spectacular")
    REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
    SPECTACULAR_SETTINGS = {
        "TITLE": "tokenauth example",
        "SERVE_INCLUDE_SCHEMA": False,
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "tokenauth.contrib.openapi.hooks.document_unauthorized",  # /api/me/'s 401
        ],
    }

TOKENAUTH = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=7),
    "REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=30),
    "ACCESS_TOKEN_REVOCATION": os.environ.get("TOKENAUTH_REVOCATION", "database"),
    # Cookie mode, as the demo page uses it. Secure is off only while DEBUG is on, because the
    # demo is served over plain local HTTP; with DEBUG off the cookie is Secure again, and
    # tokenauth.E009 refuses a cookie without it.
    "REFRESH_COOKIE": {"secure": not DEBUG},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"tokenauth": {"handlers": ["console"], "level": "INFO"}},
}
