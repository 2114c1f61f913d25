"""The example project: configured as the README says, and `manage.py check` is clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHOW_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"],
    "options": db.get("OPTIONS", {}),
    "health_checks": db.get("CONN_HEALTH_CHECKS", False),
    "cache": settings.CACHES["default"]["BACKEND"],
    "auth": settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"],
}))
"""


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment |= {"DJANGO_SETTINGS_MODULE": "example_project.settings", **env}
    return subprocess.run(  # noqa: S603  # our own interpreter and arguments
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_demo_runs_on_sqlite_with_immediate_transactions() -> None:
    shown = json.loads(run("-c", SHOW_SETTINGS).stdout)

    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["options"]["transaction_mode"] == "IMMEDIATE"
    assert shown["auth"] == ["tokenauth.authentication.AccessTokenAuthentication"]


def test_database_and_redis_urls_switch_to_postgresql_and_redis() -> None:
    shown = json.loads(
        run(
            "-c",
            SHOW_SETTINGS,
            DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
            REDIS_URL="redis://127.0.0.1:6379/0",
        ).stdout
    )

    assert shown["engine"] == "django.db.backends.postgresql"
    assert shown["health_checks"] is True
    assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_a_mysql_url_switches_to_mysql_in_utf8mb4_with_a_short_lock_wait() -> None:
    # The settings module alone: django.setup() would import the driver (the mysql extra).
    show = "import json; from example_project import settings as s; print(json.dumps(s.DATABASES))"
    completed = run("-c", show, DATABASE_URL="mysql://root:pw@127.0.0.1:3307/shop")
    assert completed.returncode == 0, completed.stderr
    database = json.loads(completed.stdout)["default"]

    assert database["ENGINE"] == "django.db.backends.mysql"
    assert (database["USER"], database["PASSWORD"]) == ("root", "pw")
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("127.0.0.1", 3307, "shop")
    assert database["OPTIONS"] == {
        "charset": "utf8mb4",
        "init_command": "SET SESSION innodb_lock_wait_timeout = 5",
    }
    assert database["CONN_HEALTH_CHECKS"] is True


def test_an_unknown_database_url_scheme_is_refused_by_name() -> None:
    completed = run("-c", SHOW_SETTINGS, DATABASE_URL="oracle://scott@127.0.0.1/test")

    assert completed.returncode != 0
    assert "unknown scheme 'oracle'" in completed.stderr


def test_manage_py_check_is_clean() -> None:
    completed = run("manage.py", "check", "--fail-level", "WARNING")

    assert completed.returncode == 0, completed.stderr
    assert "no issues" in completed.stdout
