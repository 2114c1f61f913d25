"""``make bench``: tokenauth and its peers, side by side, on SQLite and (when reachable) PostgreSQL.

Each database gets its own process (``benchmarks.suite``), and PostgreSQL the purge too
(``benchmarks.purge``); this module finds the services, runs them and prints one report.
Figures are per operation, in-process through Django's WSGI handler; rounds alternate between
contenders so that drift hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from typing import Any

from benchmarks import dpop, purge

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
REFERENCE = {  # the tokenauth row every other row of the section is compared with
    "authenticated request": "tokenauth (database)",
    "authentication class alone": "tokenauth (none)",
    "verify access token": "tokenauth decode_access_token",
    **dpop.REFERENCE,
}
PACKAGES = [
    "Django",
    "djangorestframework",
    "PyJWT",
    "drf-tokenauth",
    "djangorestframework-simplejwt",
    "django-rest-knox",
    "django-oauth-toolkit",
]


def reachable_postgres(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=3) as c:
            return str(c.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except Exception as exc:  # any failure means "not available"
        print(f"PostgreSQL at {url} not reachable ({exc.__class__.__name__}): SQLite only.")
        return None


def reachable_redis(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=3).ping())
    except Exception as exc:
        print(f"Redis at {url} not reachable ({exc.__class__.__name__}): cache mode uses LocMem.")
        return False


def run_suite(database_url: str | None, redis_url: str | None, args: argparse.Namespace) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    if database_url:
        env["BENCH_DATABASE_URL"] = database_url
    if redis_url:
        env["BENCH_REDIS_URL"] = redis_url
    command = [sys.executable, "-m", "benchmarks.suite", "--scale", args.scale]
    if database_url is None:
        command.append("--rows")  # the same on every database: counted once
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)  # noqa: S603
    return json.loads(done.stdout)


def run_purge(database_url: str, args: argparse.Namespace) -> Any:
    """``benchmarks.purge`` in a process of its own: it times its contenders as children."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env["BENCH_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "benchmarks.purge", "--scale", args.scale]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)  # noqa: S603
    return json.loads(done.stdout)


# --- formatting ------------------------------------------------------------------------------


def duration(us: float) -> str:
    if us >= 100_000:
        return f"{us / 1000:,.0f} ms"
    if us >= 1000:
        return f"{us / 1000:,.2f} ms"
    return f"{us:,.1f} µs"


def speed_ratio(reference: dict[str, Any], row: dict[str, Any]) -> float:
    """Median over rounds of (row time / reference time): how many times faster tokenauth is."""
    return statistics.median(
        other / ref for ref, other in zip(reference["rounds"], row["rounds"], strict=True)
    )


def section_rows(name: str, rows: list[dict[str, Any]]) -> list[list[str]]:
    reference_name = REFERENCE.get(name, "tokenauth")
    reference = next(r for r in rows if r["library"] == reference_name)
    table = []
    for row in rows:
        if "median_us" not in row:
            table.append([row["library"], "—", "—", "—", "—", row["note"]])
            continue
        ratio = "" if row is reference else f"{speed_ratio(reference, row):.2f}x"
        table.append(
            [
                row["library"],
                duration(row["median_us"]),
                f"{duration(row['min_us'])} - {duration(row['max_us'])}",
                f"{1e6 / row['median_us']:,.0f}",
                str(row["queries"]),
                ratio + (f" ({row['note']})" if row["note"] else ""),
            ]
        )
    return table


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def report(results: list[dict[str, Any]], environment: str, purged: Any = None) -> str:
    parts = [environment]
    header = ["library", "median", "min - max", "ops/s", "queries", "tokenauth speed ÷ this"]
    for name in results[0]["sections"]:
        for result in results:
            title = f"{name} — {result['database']}"
            if name.startswith(("authenticated", "login")):  # cache mode, the login throttle
                title += f", cache: {result['cache']}"
            parts.append(f"\n### {title}\n")
            parts.append(markdown(header, section_rows(name, result["sections"][name])))
    for result in results:
        if "rows" in result:
            refreshes = result["rows"][0]["refreshes"]
            parts.append(
                f"\n### rows left by one session after {refreshes:,} refreshes — "
                f"{result['database']}\n"
            )
            parts.append(
                markdown(
                    ["library", "rows", "tables"],
                    [
                        [
                            r["library"],
                            str(r["rows"]) if r["rows"] is not None else "—",
                            ", ".join(f"{t}: {n}" for t, n in r["tables"].items()) or r["note"],
                        ]
                        for r in result["rows"]
                    ],
                )
            )
    if purged is not None:
        parts.append(purge.section(purged, markdown))
    parts.append("\n### targets (issues 3, 9, 10 and 12)\n")
    parts.append(targets(results))
    if purged is not None:
        parts.append("\n".join(purge.targets(purged)))
    return "\n".join(parts)


def _row(result: dict[str, Any], section: str, library: str) -> dict[str, Any]:
    return next(r for r in result["sections"][section] if r["library"] == library)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def targets(results: list[dict[str, Any]]) -> str:
    lines = []
    for result in results:
        lines += _request_targets(result)
    for result in results:
        lines += dpop.targets(result, speed_ratio)
    for result in results:  # no database in these: one figure per process
        db = result["database"]
        alone = "authentication class alone"
        cost = speed_ratio(  # median over rounds of (tokenauth's time / the bare class's time)
            _row(result, alone, "jwt.decode class (limit)"), _row(result, alone, "tokenauth (none)")
        )
        lines.append(
            f"- {db} run: none-mode authentication takes {cost:.2f}x the time of a class that "
            f"only calls jwt.decode (target ≤ 1.15x) {_verdict(cost <= 1.15)}"
        )
        verify = speed_ratio(
            _row(result, "verify access token", "jwt.decode (limit)"),
            _row(result, "verify access token", "tokenauth decode_access_token"),
        )
        lines.append(
            f"- {db} run: verification takes {verify:.2f}x the time of a bare "
            f"jwt.decode (target ≤ 1.3x) {_verdict(verify <= 1.3)}"
        )
    return "\n".join(lines)


def _request_targets(result: dict[str, Any]) -> list[str]:
    db, section = result["database"], "authenticated request"
    stateless = _row(result, section, "simplejwt JWTStatelessUserAuthentication")
    auth = speed_ratio(
        _row(result, section, "tokenauth (database)"),
        _row(result, section, "simplejwt JWTAuthentication"),
    )
    lines = [
        f"- {db}: authenticated request, database mode vs simplejwt JWTAuthentication: "
        f"{auth:.2f}x as fast (target ≥ 1.2x) {_verdict(auth >= 1.2)}"
    ]
    locmem = "tokenauth (cache)" if result["cache"] == "LocMem" else "tokenauth (cache) on LocMem"
    for mode, library in (("none", "tokenauth (none)"), ("cache (LocMem)", locmem)):
        ratio = speed_ratio(_row(result, section, library), stateless)
        lines.append(
            f"- {db}: authenticated request, {mode} mode vs simplejwt "
            f"JWTStatelessUserAuthentication: {ratio:.2f}x as fast (target ≥ 1.05x) "
            f"{_verdict(ratio >= 1.05)}"
        )
    ours = _row(result, "refresh with rotation", "tokenauth")
    theirs = _row(result, "refresh with rotation", "simplejwt (rotate + blacklist)")
    refresh = speed_ratio(ours, theirs)
    line = (
        f"- {db}: refresh vs simplejwt: {refresh:.2f}x the throughput with "
        f"{ours['queries']} queries (simplejwt: {theirs['queries']})"
    )
    if db == "postgresql":
        met = refresh >= 2.5 and ours["queries"] <= 3
        line += f"; target ≥ 2.5x with ≤ 3 queries {_verdict(met)}"
    lines.append(line)
    return lines


def environment(postgres: str | None, redis_ok: bool) -> str:
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (missing)")
    services = f"SQLite {__import__('sqlite3').sqlite_version}"
    if postgres:
        services += f", PostgreSQL {postgres}"
    services += ", Redis" if redis_ok else ", no Redis"
    return (
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{services}\n{'; '.join(versions)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scale",
        choices=["full", "quick", "smoke"],
        default="full",
        help="quick: a tenth of the operations; smoke: a hundredth, to check the benchmark runs",
    )
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE")
    args = parser.parse_args()

    postgres_url = os.environ.get("DATABASE_URL", DEFAULT_POSTGRES)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    postgres = reachable_postgres(postgres_url)
    redis_ok = reachable_redis(redis_url)

    results = [run_suite(None, redis_url if redis_ok else None, args)]
    if postgres:
        results.append(run_suite(postgres_url, redis_url if redis_ok else None, args))
    purged = run_purge(postgres_url, args) if postgres else None
    text = report(results, environment(postgres, redis_ok), purged)
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    main()
