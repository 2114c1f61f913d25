"""The example project's settings, with the knobs the proof turns from the environment.

Everything else is ``example_project.settings`` as a user would deploy it: PostgreSQL from
``DATABASE_URL``, Redis from ``REDIS_URL``, ``ACCESS_TOKEN_REVOCATION`` from
``TOKENAUTH_REVOCATION``, Django's default (PBKDF2) password hasher; refresh tokens in the
body, not in the demo page's cookie.

- ``TOKENAUTH_CACHE_FAILURE``: ``closed`` (default) or ``open``.
- ``TOKENAUTH_LOGIN_THROTTLE_RATE``: default ``1000000/min``: the throttle stays on (it is part
  of what a login costs, and fails closed in ``cache`` mode) but every client is 127.0.0.1, so
  the default ``10/min`` would throttle the load test. ``none`` turns it off.
- ``TOKENAUTH_REUSE_GRACE_SECONDS``: the grace window, default 10 (the library's default).
- ``TOKENAUTH_CACHE_KEY_PREFIX``: keeps this run's Redis keys apart from anyone else's.
"""

from __future__ import annotations

import os
from datetime import timedelta

from example_project import settings as _example
from example_project.settings import *  # noqa: F403

DEBUG = False  # production behaviour: no debug pages, no query log kept in memory

_rate = os.environ.get("TOKENAUTH_LOGIN_THROTTLE_RATE", "1000000/min")
TOKENAUTH = {
    **_example.TOKENAUTH,
    # The proof's clients are native apps (tokens in the body); the example's cookie mode is
    # for its demo page, and its Secure flag follows the example's DEBUG, not this one.
    "REFRESH_COOKIE": None,
    "CACHE_FAILURE": os.environ.get("TOKENAUTH_CACHE_FAILURE", "closed"),
    "LOGIN_THROTTLE_RATE": None if _rate.lower() == "none" else _rate,
    "REUSE_GRACE_PERIOD": timedelta(
        seconds=float(os.environ.get("TOKENAUTH_REUSE_GRACE_SECONDS", "10"))
    ),
}

if hasattr(_example, "CACHES"):  # REDIS_URL set
    CACHES = {
        alias: {**config, "KEY_PREFIX": os.environ.get("TOKENAUTH_CACHE_KEY_PREFIX", "")}
        for alias, config in _example.CACHES.items()
    }

# With DEBUG off Django prints nothing about a 500; the proof greps the server log for one.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "tokenauth": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
