"""A throwaway database for one proof run: create, migrate, fill, read, drop, kill connections.

PostgreSQL through psycopg, MariaDB/MySQL through MySQLdb, never the ORM: the test process
must not share (or be confused by) the connections of the server it is checking.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from example_project.database_url import database_from_url, is_mysql

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "tests.proof.settings"


@dataclass(frozen=True)
class FamilyRow:
    public_id: str
    generation: int
    revoked_at: datetime | None
    revocation_reason: str


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlparse(url).path.lstrip("/")


def connect(url: str) -> Any:
    """An autocommit DB-API connection to ``url``: psycopg, or MySQLdb for ``mysql://``."""
    if not is_mysql(url):
        import psycopg  # the test extras

        return psycopg.connect(url, autocommit=True)
    import MySQLdb  # the ``mysql`` extra

    settings = database_from_url(url)
    return MySQLdb.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        database=settings["NAME"],
        charset="utf8mb4",
        autocommit=True,
    )


def execute(connection: Any, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on either driver (both take ``%s`` parameters); its rows."""
    with contextlib.closing(connection.cursor()) as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall()) if cursor.description else []


def create_database(url: str, name: str) -> None:
    """``CREATE DATABASE name``, connected through ``url`` (any database of that server)."""
    with contextlib.closing(connect(url)) as connection:
        execute(connection, f"CREATE DATABASE {_quoted(url, name)}{_charset(url)}")


def drop_database(url: str, name: str) -> None:
    """Drop it even if a server process still holds a connection to it."""
    with contextlib.closing(connect(url)) as connection:
        if is_mysql(url):
            terminate_backends(connection, name, url)  # DROP waits for open transactions
            execute(connection, f"DROP DATABASE IF EXISTS {_quoted(url, name)}")
        else:
            execute(connection, f"DROP DATABASE IF EXISTS {_quoted(url, name)} WITH (FORCE)")


def _quoted(url: str, name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"not a database name this kit makes: {name!r}")
    return f"`{name}`" if is_mysql(url) else f'"{name}"'


def _charset(url: str) -> str:
    return " CHARACTER SET utf8mb4" if is_mysql(url) else ""


def manage(env: Mapping[str, str], *args: str) -> None:
    """``python args`` in the project's directory with the proof settings; its stderr in the
    error when it fails."""
    done = subprocess.run(  # noqa: S603  # our own interpreter and arguments
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def migrate_and_create_users(env: Mapping[str, str], usernames: Sequence[str]) -> None:
    manage(env, "manage.py", "migrate", "--noinput")
    manage(env, "-m", "tests.proof.users", *usernames)


def families(url: str, username: str) -> list[FamilyRow]:
    """Every family row of the user, oldest first."""
    query = """
        SELECT f.public_id, f.generation, f.revoked_at, f.revocation_reason
        FROM tokenauth_refreshtokenfamily f JOIN auth_user u ON u.id = f.user_id
        WHERE u.username = %s ORDER BY f.id
    """
    with contextlib.closing(connect(url)) as connection:
        rows = execute(connection, query, (username,))
    return [FamilyRow(*row) for row in rows]


def terminate_backends(connection: Any, name: str, url: str) -> int:
    """Kill every other connection to database ``name``; how many were killed."""
    if not is_mysql(url):
        rows = execute(
            connection,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        return sum(1 for (killed,) in rows if killed)
    ids = execute(
        connection,
        "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
        (name,),
    )
    killed = 0
    for (thread_id,) in ids:
        try:
            execute(connection, f"KILL CONNECTION {int(thread_id)}")
            killed += 1
        except Exception as exc:  # it ended between the SELECT and the KILL
            if "Unknown thread id" not in str(exc):
                raise
    return killed
