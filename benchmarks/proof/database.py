"""A throwaway PostgreSQL database for one proof run: create, migrate, fill, read, drop.

Reads go straight through psycopg, not the ORM: the test process must not share (or be
confused by) the connections of the server it is checking.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import sql

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "benchmarks.proof.settings"


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


def create_database(url: str, name: str) -> None:
    """``CREATE DATABASE name``, connected through ``url`` (any database of that server)."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str, name: str) -> None:
    """Drop it even if a server process still holds a connection to it."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


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
    manage(env, "-m", "benchmarks.proof.users", *usernames)


def families(url: str, username: str) -> list[FamilyRow]:
    """Every family row of the user, oldest first."""
    query = """
        SELECT f.public_id, f.generation, f.revoked_at, f.revocation_reason
        FROM tokenauth_refreshtokenfamily f JOIN auth_user u ON u.id = f.user_id
        WHERE u.username = %s ORDER BY f.id
    """
    with psycopg.connect(url) as connection:
        rows = connection.execute(query, (username,)).fetchall()
    return [FamilyRow(*row) for row in rows]


def terminate_backends(connection: psycopg.Connection[tuple[object, ...]], name: str) -> int:
    """Kill every other connection to database ``name``; how many were killed."""
    rows = connection.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    ).fetchall()
    return sum(1 for (killed,) in rows if killed)
