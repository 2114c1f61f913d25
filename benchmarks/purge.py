"""``make bench``'s purge section: ``tokenauth_purge`` against one plain SQL ``DELETE``.

On PostgreSQL only (``BENCH_DATABASE_URL``). 1,000,000 expired families (``--scale quick``:
100,000; ``smoke``: 10,000) are made in SQL with ``generate_series`` in a database of their
own, vacuumed and analysed; every run gets an identical copy of it (``CREATE DATABASE ...
TEMPLATE``), so each contender deletes the same rows from the same pages. Each runs as a child
process, measured from outside: wall time and the child's own peak RSS (``os.wait4``).
simplejwt's ``flushexpiredtokens`` runs on as many expired outstanding tokens. Prints JSON;
``benchmarks.run`` formats it with ``section()`` and ``targets()``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse, urlunparse

ROWS = {"full": 1_000_000, "quick": 100_000, "smoke": 10_000}
ROUNDS = {"full": 3, "quick": 1, "smoke": 1}  # the two contenders take turns, in a rotated order
USERS = 1_000
TABLE = "tokenauth_refreshtokenfamily"
SIMPLEJWT_TABLE = "token_blacklist_outstandingtoken"
PURGEABLE = (  # tokenauth's condition (tokenauth/_purge.py), keep_revoked_for = 7 days
    "(revoked_at IS NULL AND (idle_expires_at <= now() OR absolute_expires_at <= now()))"
    " OR revoked_at <= now() - interval '7 days'"
)
PLAIN_DELETE = f"DELETE FROM {TABLE} WHERE {PURGEABLE}"  # noqa: S608  # constants only
# Every family logged in 40 days ago and never came back: past its idle (7 days) and its
# absolute (30 days) expiry. Columns not named here are NULL or "" (checked in _fill).
FAMILY_COLUMNS = {
    "user_id": "{first_user} + i % {users}",
    "public_id": "substr(md5(i::text), 1, 22)",
    "secret": "md5('s' || i) || md5('t' || i)",
    "generation": "i % 50",
    "created_at": "now() - interval '40 days' + i * interval '1 ms'",
    "last_used_at": "now() - interval '40 days' + i * interval '1 ms'",
    "idle_expires_at": "now() - interval '33 days' + i * interval '1 ms'",
    "absolute_expires_at": "now() - interval '10 days' + i * interval '1 ms'",
    "user_agent": "'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36'",
    "ip_address": "('203.0.113.' || (1 + i % 250))::inet",
    "password_version": "substr(md5('p' || i % {users}), 1, 16)",
    "client_binding": "substr(md5('b' || i), 1, 32)",
}
FILL_USERS = (
    "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,"  # noqa: S608
    " is_staff, is_active, date_joined) SELECT '!', false, 'purge-' || i, '', '', '', false,"
    f" true, now() FROM generate_series(1, {USERS}) AS i"
)
# A refresh JWT of the usual length, as simplejwt stores it in OutstandingToken.token.
SIMPLEJWT_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "x" * 220 + "." + "s" * 43
PLAIN_SCRIPT = """
import sys, psycopg
with psycopg.connect(sys.argv[1]) as connection:
    print(connection.execute(sys.argv[2]).rowcount)
"""
# Each contender is started by this small launcher: on Linux a child's ru_maxrss starts from the
# RSS of the process that forked it, so forking from this one (Django loaded) would floor it.
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "maxrss": usage.ru_maxrss, "status": status}, out)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=ROWS, default="full")
    scale = parser.parse_args().scale
    server = _libpq(os.environ["BENCH_DATABASE_URL"])
    template = f"tokenauth_bench_purge_{os.getpid()}"
    _sql(server, f'CREATE DATABASE "{template}"')
    try:
        _prepare(_url(server, template), ROWS[scale])
        result = _measure(server, template, ROWS[scale], ROUNDS[scale])
    finally:
        _sql(server, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    json.dump(result, sys.stdout)


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _url(server: str, name: str) -> str:
    return urlunparse(urlparse(server)._replace(path=f"/{name}"))


def _sql(url: str, statement: str) -> Any:
    """Run one statement in autocommit (VACUUM, CREATE DATABASE); the first value it returns."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(statement)  # type: ignore[arg-type]  # our constants
        row = cursor.fetchone() if cursor.description else None
    return row[0] if row else None


def _prepare(url: str, rows: int) -> None:
    """Migrate the template database and fill it, through Django (the model names the
    columns), then let go of it: a template must have no session."""
    os.environ["BENCH_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    connections.close_all()
    _sql(url, FILL_USERS)
    _sql(url, _fill(rows, first_user=_sql(url, "SELECT min(id) FROM auth_user")))
    _sql(url, f"VACUUM ANALYZE {TABLE}")


def _fill(rows: int, *, first_user: int) -> str:
    from tokenauth.models import RefreshTokenFamily

    columns, values = [], []
    for field in RefreshTokenFamily._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in FAMILY_COLUMNS:
            values.append(FAMILY_COLUMNS[field.column].format(first_user=first_user, users=USERS))
        elif field.null:
            values.append("NULL")
        elif field.get_internal_type() in ("CharField", "TextField"):
            values.append("''")
        else:
            raise RuntimeError(f"benchmarks.purge: no value for {field.column}: add it above")
    return (
        f"INSERT INTO {TABLE} ({', '.join(columns)}) SELECT {', '.join(values)}"  # noqa: S608
        f" FROM generate_series(1, {rows}) AS i"
    )


@contextmanager
def _copy(server: str, template: str) -> Iterator[str]:
    """A fresh database made from the template (a file copy: same rows, pages, statistics)."""
    name = f"{template}_run"
    strategy = (
        " STRATEGY FILE_COPY" if int(_sql(server, "SHOW server_version_num")) >= 150000 else ""
    )
    _sql(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
    try:
        url = _url(server, name)
        _sql(url, "CHECKPOINT")  # each contender starts with nothing dirty in shared buffers
        yield url
    finally:
        _sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _measure(server: str, template: str, rows: int, rounds: int) -> dict[str, Any]:
    django_command = [sys.executable, "-m", "django"]
    commands = {
        "plain": lambda url: [sys.executable, "-c", PLAIN_SCRIPT, url, PLAIN_DELETE],
        "tokenauth": lambda url: [*django_command, "tokenauth_purge"],
    }
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "tokenauth": []}
    startup: dict[str, Any] = {}
    for round_number in range(rounds):
        order = ["plain", "tokenauth"] if round_number % 2 == 0 else ["tokenauth", "plain"]
        for contender in order:
            with _copy(server, template) as url:
                runs[contender].append(_child(commands[contender](url), url))
                _assert_empty(url, TABLE)
                if not startup and contender == "tokenauth":  # again, on the empty table
                    startup = _child(commands["tokenauth"](url), url)
    with _copy(server, template) as url:
        first_user = _sql(url, "SELECT min(id) FROM auth_user")
        _sql(
            url,
            f"INSERT INTO {SIMPLEJWT_TABLE} (user_id, jti, token, created_at, expires_at)"  # noqa: S608
            f" SELECT {first_user} + i % {USERS}, md5(i::text), '{SIMPLEJWT_TOKEN}',"
            " now() - interval '40 days', now() - interval '33 days'"
            f" FROM generate_series(1, {rows}) AS i",
        )
        _sql(url, f"VACUUM ANALYZE {SIMPLEJWT_TABLE}")
        _sql(url, "CHECKPOINT")
        simplejwt = _child([*django_command, "flushexpiredtokens"], url)
        _assert_empty(url, SIMPLEJWT_TABLE)
    return {
        "database": "postgresql",
        "rows": rows,
        "plain": runs["plain"],
        "tokenauth": runs["tokenauth"],
        "startup": startup,
        "simplejwt": simplejwt,
    }


def _assert_empty(url: str, table: str) -> None:
    left = _sql(url, f"SELECT count(*) FROM {table}")  # noqa: S608  # our constants
    if left:
        raise RuntimeError(f"benchmarks.purge: {left} rows left in {table}")


def _child(command: list[str], url: str) -> dict[str, Any]:
    """Run ``command`` on the database at ``url``: wall time, its own peak RSS, last line."""
    env = {**os.environ, "BENCH_DATABASE_URL": url}
    env.pop("BENCH_REDIS_URL", None)  # no contender uses a cache
    with (
        tempfile.NamedTemporaryFile("r") as measured,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        launcher = [sys.executable, "-c", LAUNCHER, measured.name, *command]
        subprocess.run(launcher, env=env, stdout=out, stderr=err, check=True)  # noqa: S603
        figures = json.load(measured)
        out.seek(0)
        err.seek(0)
        printed, errors = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(figures["status"]):
        raise RuntimeError(f"benchmarks.purge: {command!r} failed: {errors[-2000:]}")
    # ru_maxrss: kilobytes on Linux, bytes on macOS.
    peak = figures["maxrss"] * (1 if sys.platform == "darwin" else 1024)
    lines = printed.strip().splitlines()
    return {"seconds": figures["seconds"], "peak_rss": peak, "said": lines[-1] if lines else ""}


# --- formatting (benchmarks.run) ----------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"


def _megabytes(value: int) -> str:
    return f"{value / 2**20:,.0f} MB"


def ratio(result: dict[str, Any]) -> float:
    """Median over rounds of (tokenauth_purge's time / the plain DELETE's in the same round)."""
    pairs = zip(result["tokenauth"], result["plain"], strict=True)
    return statistics.median(ours["seconds"] / plain["seconds"] for ours, plain in pairs)


def section(result: dict[str, Any], markdown: Callable[[list[str], list[list[str]]], str]) -> str:
    """The table: one row per command, times compared with the plain DELETE's median."""
    plain = statistics.median(run["seconds"] for run in result["plain"])

    def row(
        name: str, runs: list[dict[str, Any]], note: str, versus: str | None = None
    ) -> list[str]:
        times = [run["seconds"] for run in runs]
        median = statistics.median(times)
        return [
            name,
            _seconds(median),
            f"{_seconds(min(times))} - {_seconds(max(times))}" if len(times) > 1 else "—",
            _megabytes(max(run["peak_rss"] for run in runs)),
            f"{median / plain:.2f}x" if versus is None else versus,
            note,
        ]

    said = result["tokenauth"][0]["said"]
    table = [
        row("plain SQL DELETE", result["plain"], "one statement from psycopg, no Django", ""),
        row(
            "tokenauth_purge",
            result["tokenauth"],
            f"batches of 10,000: {said}",
            f"{ratio(result):.2f}x",
        ),
        row(
            "tokenauth_purge, empty table",
            [result["startup"]],
            "start-up alone: Python, Django, MAX(id)",
            "",
        ),
        row(
            "simplejwt flushexpiredtokens",
            [result["simplejwt"]],
            "as many expired outstanding tokens, no blacklist rows",
        ),
    ]
    header = ["command", "wall time", "min - max", "peak RSS", "÷ plain DELETE", "note"]
    title = f"\n### purge {result['rows']:,} expired sessions — {result['database']}\n"
    return title + "\n" + markdown(header, table)


def targets(result: dict[str, Any]) -> list[str]:
    """DESIGN §11's targets, set for 1,000,000 rows: a smaller run's ratio is start-up's."""
    times, peak = ratio(result), max(run["peak_rss"] for run in result["tokenauth"])
    full = result["rows"] >= ROWS["full"]

    def verdict(met: bool) -> str:
        return ("met" if met else "MISSED") if full else "(the target is for 1,000,000 rows)"

    ours = statistics.median(run["seconds"] for run in result["tokenauth"])
    plain = statistics.median(run["seconds"] for run in result["plain"])
    startup = result["startup"]["seconds"]
    return [
        f"- {result['database']}: tokenauth_purge of {result['rows']:,} expired families takes "
        f"{times:.2f}x one plain DELETE (target ≤ 1.5x) {verdict(times <= 1.5)}; peak RSS "
        f"{_megabytes(peak)} (target < 100 MB) {verdict(peak < 100 * 2**20)}",
        f"- {result['database']}: less its start-up ({_seconds(startup)}, the empty-table run), "
        f"the purge's own work takes {_seconds(ours - startup)}: "
        f"{(ours - startup) / plain:.2f}x the plain DELETE's median",
    ]


if __name__ == "__main__":
    main()
