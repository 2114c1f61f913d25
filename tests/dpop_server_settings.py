"""Settings for tests/test_dpop_processes.py: the test project on a SQLite file that two
``runserver`` processes share, with DPoP nonces on."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import TOKENAUTH

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["TOKENAUTH_DPOP_DB"]}
}
TOKENAUTH = {**TOKENAUTH, "DPOP": "allowed", "DPOP_NONCE": True}
