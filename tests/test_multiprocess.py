"""The multi-process proof: the example project under gunicorn, a server database (PostgreSQL or
MariaDB) and Redis, over HTTP.

Four sync workers share one database and one Redis, as in production (DESIGN §7). What a
single process and Django's test client cannot show is shown here: simultaneous refreshes
landing on different processes, a logout seen by every worker at once, a sustained mixed load
that loses and forks no family, and database connections or Redis dying under the clients:
503 (or, for Redis in ``closed`` mode, 401) and never a 500, then full recovery.

The run gets a database (``tokenauth_proof_<pid>``) and Redis keys (db 7, prefix
``tokenauth-proof-<pid>``) of its own and removes both. ``TOKENAUTH_LOAD_SECONDS`` sets the
load's length (default 60), ``TOKENAUTH_LOAD_REPORT`` a path for its figures as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

from tests.conftest import requires_redis, requires_server_database

pytest.importorskip("gunicorn", reason="needs gunicorn (in the test extras): pip install gunicorn")
if os.environ.get("DATABASE_URL", "").startswith(("mysql", "mariadb")):
    pytest.importorskip("MySQLdb", reason="needs mysqlclient (the mysql extra)")
else:
    pytest.importorskip("psycopg", reason="needs psycopg (in the test extras)")
redis = pytest.importorskip("redis", reason="needs redis-py (in the test extras)")

from tests.proof import database, faults, load  # noqa: E402
from tests.proof.client import ProofClient, Reply, token_generation  # noqa: E402
from tests.proof.server import Gunicorn  # noqa: E402
from tests.proof.tcp_proxy import TcpProxy  # noqa: E402
from tests.proof.users import PASSWORD  # noqa: E402

pytestmark = [requires_server_database, requires_redis]

REDIS_DB = 7
LOAD_SECONDS = float(os.environ.get("TOKENAUTH_LOAD_SECONDS", "60"))
LOAD_USERS = [f"load-{i:02}" for i in range(16)]
REFRESH_EVERY = 4  # API calls per refresh in the load
RACE_THREADS, RACE_ROUNDS = 10, 50
KILL_SECONDS = 6.0  # well inside the 10 s grace window: a 503'd rotation is retried in time
FAULT_REFRESHERS = [f"dbfault-{i}" for i in range(4)]
FAULT_API_USERS = ["dbfault-api-0", "dbfault-api-1"]
CACHE_API_USERS = ["cachemode-api-0", "cachemode-api-1"]
USERS = [
    "race",
    "login-race",
    "logout-database",
    "logout-cache",
    "cachefault-closed",
    "cachefault-open",
    *LOAD_USERS,
    *FAULT_REFRESHERS,
    *FAULT_API_USERS,
    *CACHE_API_USERS,
]


def _redis_url(*, port: int | None = None) -> str:
    """``REDIS_URL`` on database ``REDIS_DB``; through 127.0.0.1:``port`` (the proxy) if given."""
    parsed = urlparse(os.environ["REDIS_URL"])
    if port is not None:
        credentials = parsed.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
        parsed = parsed._replace(netloc=netloc)
    return urlunparse(parsed._replace(path=f"/{REDIS_DB}"))


@pytest.fixture(scope="module")
def proof_env() -> Iterator[dict[str, str]]:
    """Environment for the servers: a migrated database with ``USERS``, a Redis key prefix;
    both this run's own and removed afterwards."""
    base_url = os.environ["DATABASE_URL"]
    name = f"tokenauth_proof_{os.getpid()}"
    prefix = f"tokenauth-proof-{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": database.with_database(base_url, name),
        "REDIS_URL": _redis_url(),
        "TOKENAUTH_CACHE_KEY_PREFIX": prefix,
    }
    database.drop_database(base_url, name)  # a leftover of a killed run with the same pid
    database.create_database(base_url, name)
    try:
        database.migrate_and_create_users(env, USERS)
        yield env
    finally:
        database.drop_database(base_url, name)
        cache = redis.Redis.from_url(_redis_url())
        for key in cache.scan_iter(match=f"{prefix}:*"):
            cache.delete(key)


def _serve(env: dict[str, str], **overrides: str) -> Iterator[Gunicorn]:
    server = Gunicorn({**env, **overrides})
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def database_server(proof_env: dict[str, str]) -> Iterator[Gunicorn]:
    yield from _serve(proof_env, TOKENAUTH_REVOCATION="database")


@pytest.fixture(scope="module")
def redis_proxy() -> Iterator[TcpProxy]:
    """Between the cache-mode servers and the shared Redis, so a test can cut it."""
    parsed = urlparse(os.environ["REDIS_URL"])
    proxy = TcpProxy((parsed.hostname or "127.0.0.1", parsed.port or 6379))
    proxy.restore()
    yield proxy
    proxy.cut()


@pytest.fixture
def redis_up(redis_proxy: TcpProxy) -> Iterator[TcpProxy]:
    """The proxy, up at the start and at the end of the test whatever happens in between."""
    redis_proxy.restore()
    yield redis_proxy
    redis_proxy.restore()


def _cache_server(env: dict[str, str], proxy: TcpProxy, failure: str) -> Iterator[Gunicorn]:
    yield from _serve(
        env,
        TOKENAUTH_REVOCATION="cache",
        TOKENAUTH_CACHE_FAILURE=failure,
        REDIS_URL=_redis_url(port=proxy.port),
    )


@pytest.fixture(scope="module")
def cache_server(proof_env: dict[str, str], redis_proxy: TcpProxy) -> Iterator[Gunicorn]:
    yield from _cache_server(proof_env, redis_proxy, "closed")


@pytest.fixture(scope="module")
def cache_open_server(proof_env: dict[str, str], redis_proxy: TcpProxy) -> Iterator[Gunicorn]:
    yield from _cache_server(proof_env, redis_proxy, "open")


@pytest.fixture
def say(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print to the terminal even without ``-s``: the figures are part of the proof."""

    def _say(text: str) -> None:
        with capsys.disabled():
            print(f"\n{text}")

    return _say


def login_ok(client: ProofClient, username: str) -> dict[str, Any]:
    reply = client.login(username, PASSWORD)
    assert reply.status == 200, reply.describe()
    return reply.json()  # type: ignore[no-any-return]


def every_worker(server: Gunicorn, call: Callable[[], Reply], timeout: float = 30) -> list[Reply]:
    """``call`` from 8 threads at a time, each on a fresh connection, until every worker has
    answered at least once; all the replies."""
    replies: list[Reply] = []
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(8) as pool:
        while len({reply.pid for reply in replies}) < server.workers:
            assert time.monotonic() < deadline, f"only pids {Counter(r.pid for r in replies)}"
            replies.extend(pool.map(lambda _: call(), range(8)))
    return replies


def statuses(replies: list[Reply]) -> dict[int, int]:
    return dict(Counter(reply.status for reply in replies))


def assert_unavailable(reply: Reply) -> None:
    """DESIGN §3: 503 ``temporarily_unavailable`` with a positive integer ``Retry-After``."""
    assert reply.status == 503, reply.describe()
    assert reply.json()["error"] == "temporarily_unavailable", reply.describe()
    assert int(reply.headers["retry-after"]) > 0, reply.headers


def assert_refused(reply: Reply) -> None:
    """RFC 6750 §3: 401 with ``WWW-Authenticate: Bearer ... error="invalid_token"``."""
    assert reply.status == 401, reply.describe()
    assert 'error="invalid_token"' in reply.headers["www-authenticate"], reply.headers


def assert_clean_log(server: Gunicorn, since: int) -> None:
    """Nothing in the server's log since ``since`` that a 500 or a crash would write."""
    assert not server.errors_in_log(since), server.log(since)[-8000:]


# 1. Concurrent refresh ------------------------------------------------------------------------


def race(client: ProofClient, refresh_token: str, pool: ThreadPoolExecutor) -> list[Reply]:
    """``RACE_THREADS`` refreshes of one token, released at the same instant."""
    barrier = threading.Barrier(RACE_THREADS)

    def one(_: int) -> Reply:
        barrier.wait(timeout=30)
        return client.refresh(refresh_token)

    return list(pool.map(one, range(RACE_THREADS)))


def test_simultaneous_refreshes_on_four_processes_all_get_the_same_successor(
    database_server: Gunicorn, proof_env: dict[str, str], say: Callable[[str], None]
) -> None:
    """DESIGN §5 "Concurrency": with grace on, every success returns the same refresh token,
    no 500, and after 50 rounds of 10 racers the family is one chain of 50 rotations."""
    client, log_mark = database_server.client, database_server.log_mark()
    refresh_token = login_ok(client, "race")["refresh_token"]
    seen: Counter[int] = Counter()
    with ThreadPoolExecutor(RACE_THREADS) as pool:
        for round_number in range(1, RACE_ROUNDS + 1):
            replies = race(client, refresh_token, pool)
            seen.update(reply.status for reply in replies)
            assert all(r.status < 500 for r in replies), [r.describe() for r in replies]
            successors = {r.json()["refresh_token"] for r in replies if r.status == 200}
            assert len(successors) == 1, [r.describe() for r in replies]
            refresh_token = successors.pop()
            assert token_generation(refresh_token)[1] == round_number
    say(f"concurrent refresh, {RACE_ROUNDS} rounds x {RACE_THREADS} threads: {dict(seen)}")
    rows = database.families(proof_env["DATABASE_URL"], "race")
    assert [(row.generation, row.revoked_at) for row in rows] == [(RACE_ROUNDS, None)]
    assert_clean_log(database_server, log_mark)


LOGIN_THREADS, LOGIN_ROUNDS = 4, 5


def test_simultaneous_logins_of_one_user_on_four_processes_all_succeed(
    database_server: Gunicorn, proof_env: dict[str, str], say: Callable[[str], None]
) -> None:
    """DESIGN §2 "Databases": logins of one user at the same instant never deadlock (InnoDB
    answered 1213, a 503, when the family's INSERT came before ``last_login``'s UPDATE)."""
    client, log_mark = database_server.client, database_server.log_mark()
    seen: Counter[int] = Counter()
    with ThreadPoolExecutor(LOGIN_THREADS) as pool:
        for _ in range(LOGIN_ROUNDS):
            barrier = threading.Barrier(LOGIN_THREADS)

            def one(_: int) -> Reply:
                barrier.wait(timeout=30)  # noqa: B023  # this round's barrier, used at once
                return client.login("login-race", PASSWORD)

            replies = list(pool.map(one, range(LOGIN_THREADS)))
            seen.update(reply.status for reply in replies)
            assert [r.status for r in replies] == [200] * LOGIN_THREADS, [
                r.describe() for r in replies
            ]
    say(f"concurrent login of one user, {LOGIN_ROUNDS} rounds x {LOGIN_THREADS}: {dict(seen)}")
    rows = database.families(proof_env["DATABASE_URL"], "login-race")
    assert len(rows) == LOGIN_THREADS * LOGIN_ROUNDS
    assert all(row.revoked_at is None and row.generation == 0 for row in rows)
    assert_clean_log(database_server, log_mark)


# 2. Logout on every worker ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["database", "cache"])
def test_logout_refuses_the_access_token_on_every_worker_at_once(
    mode: str, request: pytest.FixtureRequest, proof_env: dict[str, str]
) -> None:
    """DESIGN §5: in ``database`` and ``cache`` modes, logout stops the family's access tokens
    at once, whichever process serves the next request."""
    if mode == "cache":
        request.getfixturevalue("redis_up")
    server: Gunicorn = request.getfixturevalue(f"{mode}_server")
    client, username, log_mark = server.client, f"logout-{mode}", server.log_mark()
    tokens = login_ok(client, username)
    access_token = tokens["access_token"]

    before = every_worker(server, lambda: client.me(access_token))
    assert statuses(before) == {200: len(before)}, [r.describe() for r in before]

    assert client.logout(tokens["refresh_token"]).status == 204
    after = every_worker(server, lambda: client.me(access_token))
    for reply in after:
        assert_refused(reply)

    refused = client.refresh(tokens["refresh_token"])
    assert (refused.status, refused.json()["error"]) == (400, "invalid_grant")
    rows = database.families(proof_env["DATABASE_URL"], username)
    assert [(row.revoked_at is not None, row.revocation_reason) for row in rows] == [
        (True, "logout")
    ]
    assert_clean_log(server, log_mark)


# 3. Sustained mixed load ------------------------------------------------------------------------


def test_sustained_mixed_load_loses_and_forks_no_family(
    database_server: Gunicorn, proof_env: dict[str, str], say: Callable[[str], None]
) -> None:
    """Virtual users log in, call the API, refresh every few calls and now and then log out and
    in again; afterwards every family in the database is exactly what its client counted."""
    # Each user logs out and in again once or twice: a PBKDF2 login costs ~0.35 s of CPU.
    relogin_after = (LOAD_SECONDS / 4, LOAD_SECONDS * 3 / 4)
    ramp_up = min(4.0, LOAD_SECONDS / 10)
    log_mark = database_server.log_mark()
    result = load.run_load(
        database_server.client,
        LOAD_USERS,
        PASSWORD,
        LOAD_SECONDS,
        refresh_every=REFRESH_EVERY,
        relogin_after=relogin_after,
        ramp_up=ramp_up,
    )
    report = result.report(
        workers=database_server.workers,
        virtual_users=len(LOAD_USERS),
        cpus=os.cpu_count(),
        revocation="database",
        password_hasher="PBKDF2 (Django default)",
        refresh_every_api_calls=REFRESH_EVERY,
        relogin_after_seconds=f"{relogin_after[0]:g}-{relogin_after[1]:g}",
        ramp_up_seconds=ramp_up,
    )
    say(load.format_report(report))
    if path := os.environ.get("TOKENAUTH_LOAD_REPORT"):
        Path(path).write_text(json.dumps(report, indent=2) + "\n")

    assert not result.recorder.failures, result.recorder.failures[:10]
    assert result.server_errors == 0
    assert set(result.recorder.statuses["refresh"]) == {200}
    assert report["families_logged_out"] > 0  # the logout path was exercised
    for user in result.users:
        rows = database.families(proof_env["DATABASE_URL"], user.username)
        # One row per login the client made, none lost or extra; each at the client's count.
        assert {
            r.public_id: (r.generation, r.revoked_at is not None, r.revocation_reason) for r in rows
        } == {
            f.public_id: (f.refreshes, f.logged_out, "logout" if f.logged_out else "")
            for f in user.families
        }, user.username
    assert_clean_log(database_server, log_mark)


# 4. Database connections killed -----------------------------------------------------------------


def killing_connections(proof_env: dict[str, str]) -> contextlib.AbstractContextManager[list[int]]:
    """Kill the connections to this run's own database (and only those) during the block."""
    name = database.database_name(proof_env["DATABASE_URL"])
    return faults.database_connections_killed(os.environ["DATABASE_URL"], name)


def test_killed_database_connections_give_503_and_every_family_stays_one_chain(
    database_server: Gunicorn, proof_env: dict[str, str], say: Callable[[str], None]
) -> None:
    """DESIGN §3: a lost database is 503 ``temporarily_unavailable`` + ``Retry-After``, never
    a 500. A 503'd refresh either rotated or did not; retried with the same token within the
    grace window it gets the successor either way, so no family forks or is revoked."""
    client, log_mark = database_server.client, database_server.log_mark()
    refreshers = [
        faults.Refresher(client, login_ok(client, u)["refresh_token"]) for u in FAULT_REFRESHERS
    ]
    callers = [
        faults.ApiCaller(client, login_ok(client, u)["access_token"]) for u in FAULT_API_USERS
    ]
    with killing_connections(proof_env) as kills:
        faults.run_for(KILL_SECONDS, [r.loop for r in refreshers] + [c.loop for c in callers])

    # The killer has stopped: each client retries with the token it holds, once.
    retries = [r.refresh_once() for r in refreshers]
    refreshes = faults.total([r.seen for r in refreshers])
    api_calls = faults.total([c.seen for c in callers])
    say(
        f"database: {sum(kills)} connections killed in {KILL_SECONDS:.0f} s: "
        f"refresh {refreshes}, api {api_calls}; retries after: {[r.status for r in retries]}"
    )
    assert refreshes.get(503), "no refresh ever met a killed connection: nothing was proven"
    assert [r.status for r in retries] == [200] * len(refreshers), [r.describe() for r in retries]
    assert not [p for r in refreshers for p in r.problems], database_server.log(log_mark)[-8000:]
    assert set(api_calls) <= {200, 401, 503}, [odd for c in callers for odd in c.odd][:5]
    for username, refresher in zip(FAULT_REFRESHERS, refreshers, strict=True):
        generation = token_generation(refresher.refresh_token)[1]
        rows = database.families(proof_env["DATABASE_URL"], username)
        assert [(row.generation, row.revoked_at) for row in rows] == [(generation, None)]
    assert_clean_log(database_server, log_mark)


def test_killed_database_connections_never_give_500_on_the_api_in_cache_mode(
    cache_server: Gunicorn,
    redis_up: TcpProxy,
    proof_env: dict[str, str],
    say: Callable[[str], None],
) -> None:
    """DESIGN §3 again, where the user is loaded lazily: ``/api/me/`` reads the username."""
    client, log_mark = cache_server.client, cache_server.log_mark()
    callers = [
        faults.ApiCaller(client, login_ok(client, u)["access_token"]) for u in CACHE_API_USERS
    ]
    with killing_connections(proof_env) as kills:
        faults.run_for(KILL_SECONDS / 2, [c.loop for c in callers])
    api_calls = faults.total([c.seen for c in callers])
    say(f"database, cache mode: {sum(kills)} connections killed: api {api_calls}")
    assert set(api_calls) <= {200, 401, 503}, [odd for c in callers for odd in c.odd][:5]
    assert_clean_log(cache_server, log_mark)


# 5. Redis cut in cache mode ---------------------------------------------------------------------


def test_redis_outage_with_cache_failure_closed_refuses_then_recovers(
    cache_server: Gunicorn, redis_up: TcpProxy, say: Callable[[str], None]
) -> None:
    """``CACHE_FAILURE="closed"``: with Redis gone, access tokens are refused (401, DESIGN §2),
    login and refresh fail closed (503); never a 500; all back once it is."""
    client, log_mark = cache_server.client, cache_server.log_mark()
    tokens = login_ok(client, "cachefault-closed")
    access_token, refresh_token = tokens["access_token"], tokens["refresh_token"]
    assert {r.status for r in every_worker(cache_server, lambda: client.me(access_token))} == {200}

    redis_up.cut()
    try:
        during = every_worker(cache_server, lambda: client.me(access_token))
        login = client.login("cachefault-closed", PASSWORD)
        refresh = client.refresh(refresh_token)
    finally:
        redis_up.restore()
    say(
        f"redis cut, CACHE_FAILURE=closed: api {statuses(during)}, login {login.status}, "
        f"refresh {refresh.status}"
    )
    for reply in during:
        assert_refused(reply)
    assert_unavailable(login)
    # Refresh fails closed too: its access token would be refused everywhere, and 503 with
    # Retry-After makes the client wait instead of refreshing in a loop. The token stays good.
    assert_unavailable(refresh)

    after = every_worker(cache_server, lambda: client.me(access_token))
    assert statuses(after) == {200: len(after)}, [r.describe() for r in after]
    assert client.refresh(refresh_token).status == 200
    assert client.login("cachefault-closed", PASSWORD).status == 200
    assert_clean_log(cache_server, log_mark)


def test_redis_outage_with_cache_failure_open_keeps_valid_tokens_working(
    cache_open_server: Gunicorn, redis_up: TcpProxy, say: Callable[[str], None]
) -> None:
    """``CACHE_FAILURE="open"``: availability over prompt revocation; nothing stops."""
    client, log_mark = cache_open_server.client, cache_open_server.log_mark()
    tokens = login_ok(client, "cachefault-open")
    access_token = tokens["access_token"]
    assert {r.status for r in every_worker(cache_open_server, lambda: client.me(access_token))} == {
        200
    }

    redis_up.cut()
    try:
        during = every_worker(cache_open_server, lambda: client.me(access_token))
        refresh = client.refresh(tokens["refresh_token"])
        login = client.login("cachefault-open", PASSWORD)
    finally:
        redis_up.restore()
    say(
        f"redis cut, CACHE_FAILURE=open: api {statuses(during)}, login {login.status}, "
        f"refresh {refresh.status}"
    )
    assert statuses(during) == {200: len(during)}, [r.describe() for r in during]
    assert refresh.status == 200, refresh.describe()
    assert login.status == 200, login.describe()

    after = every_worker(cache_open_server, lambda: client.me(refresh.json()["access_token"]))
    assert statuses(after) == {200: len(after)}, [r.describe() for r in after]
    assert_clean_log(cache_open_server, log_mark)
