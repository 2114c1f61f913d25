"""The example project: configured as the README's demo says; `manage.py check` is clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import authenticate

from example_project import demo_user

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
    "debug": settings.DEBUG,
    "refresh_cookie": settings.TOKENAUTH["REFRESH_COOKIE"],
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


def test_the_demo_is_in_cookie_mode_with_secure_off_only_while_debug_is_on() -> None:
    shown = json.loads(run("-c", SHOW_SETTINGS).stdout)

    assert (shown["debug"], shown["refresh_cookie"]) == (True, {"secure": False})


def test_with_debug_off_the_cookie_is_secure_and_no_check_refuses_it() -> None:
    shown = json.loads(run("-c", SHOW_SETTINGS, DJANGO_DEBUG="0").stdout)
    completed = run("manage.py", "check", DJANGO_DEBUG="0")

    assert (shown["debug"], shown["refresh_cookie"]) == (False, {"secure": True})
    assert completed.returncode == 0, completed.stderr
    assert "tokenauth.E009" not in completed.stdout + completed.stderr


def make_demo_dry_run(**env: str) -> list[str]:
    """The commands ``make demo`` would run, without running them."""
    completed = subprocess.run(  # noqa: S603  # make, our Makefile
        [str(shutil.which("make")), "--no-print-directory", "-n", "demo"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(
    ("env", "address"),
    [({}, "127.0.0.1:8000"), ({"DEMO_ADDRESS": "127.0.0.1:8123"}, "127.0.0.1:8123")],
)
def test_make_demo_prints_the_url_it_then_serves(env: dict[str, str], address: str) -> None:
    commands = make_demo_dry_run(**env)

    assert commands[-2:] == [
        f".venv/bin/python -m example_project.demo_user http://{address}/",
        f".venv/bin/python manage.py runserver {address}",
    ]


@pytest.mark.django_db
def test_the_demo_user_script_resets_the_user_and_prints_where_to_log_in(capsys: Any) -> None:
    demo_user.main(["http://127.0.0.1:8123/"])
    user = authenticate(username="demo", password="demo-password")
    assert user is not None
    user.set_password("changed")
    user.save()

    demo_user.main([])

    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "Open http://127.0.0.1:8123/ (user demo / password demo-password)",
        "Open http://127.0.0.1:8000/ (user demo / password demo-password)",
    ]
    assert authenticate(username="demo", password="demo-password") == user


def test_the_multi_process_proof_keeps_refresh_tokens_in_the_body() -> None:
    # Its clients send JSON without the cookie mode's CSRF headers and read refresh_token from
    # the body: the example's cookie mode (for the demo page) must not reach it.
    show = (
        "import json; from tests.proof import settings as s; "
        "print(json.dumps([s.DEBUG, s.TOKENAUTH['REFRESH_COOKIE']]))"
    )
    completed = run("-c", show)

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == [False, None]
