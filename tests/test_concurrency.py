"""Concurrency (DESIGN §5): real transactions on a server database (PostgreSQL, MariaDB), one
connection per thread.

Every test commits for real (``transactional_db``); each worker thread opens its own
connection and closes it before it ends. A thread's exception is collected and fails the
test; every join has a timeout, so a deadlock fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from tests.conftest import lock_timeout, post_json, requires_server_database
from tests.factories import PASSWORD
from tokenauth import _client_info, _family, _issued_tokens, _refresh_tokens, service, signals
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = requires_server_database

THREADS = 10
TIMEOUT = 30  # seconds; for barriers, events and joins
REMOTE_ADDR = "203.0.113.7"
USER_AGENT = "tokenauth-concurrency-tests/1.0"
CLIENT_META = {"REMOTE_ADDR": REMOTE_ADDR, "HTTP_USER_AGENT": USER_AGENT}


def run_concurrently(*targets: Callable[[], Any]) -> list[Any]:
    """Start one thread per target, release them together, return their results in order.

    Any exception in a thread (the barrier's included) fails the caller; so does a thread
    still running after ``TIMEOUT``.
    """
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)
    errors: list[tuple[int, BaseException]] = []

    def work(index: int, target: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            results[index] = target()
        except BaseException as exc:  # reported to the main thread below
            errors.append((index, exc))
            barrier.abort()
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=work, args=(i, target), name=f"worker-{i}", daemon=True)
        for i, target in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    hung = [thread.name for thread in threads if thread.is_alive()]
    assert not hung, f"threads still running after {TIMEOUT} s: {hung}"
    assert not errors, f"thread failures: {errors!r}"
    return results


def http_refresh(refresh_token: str) -> Callable[[], Any]:
    """A POST refresh/ through the whole HTTP stack, with its own Client."""
    return lambda: post_json(
        Client(), "/auth/refresh/", {"refresh_token": refresh_token}, **CLIENT_META
    )


def http_logout(refresh_token: str) -> Callable[[], Any]:
    return lambda: post_json(
        Client(), "/auth/logout/", {"refresh_token": refresh_token}, **CLIENT_META
    )


def family_of(body: dict[str, Any]) -> RefreshTokenFamily:
    parsed = _refresh_tokens.parse(body["refresh_token"])
    assert parsed is not None
    return RefreshTokenFamily.objects.get(public_id=parsed.public_id)


@pytest.fixture
def reused_signals() -> Iterator[list[dict[str, Any]]]:
    """Every ``refresh_token_reused`` sent during the test, from any thread."""
    calls: list[dict[str, Any]] = []
    lock = threading.Lock()

    def receiver(**kwargs: Any) -> None:
        with lock:
            calls.append(kwargs)

    signals.refresh_token_reused.connect(receiver, weak=False, dispatch_uid="test-concurrency")
    yield calls
    signals.refresh_token_reused.disconnect(dispatch_uid="test-concurrency")


def test_simultaneous_refreshes_in_the_grace_window_all_get_the_same_successor(
    transactional_db: None, user: Any, login: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(seconds=10))
    body = login(user, **CLIENT_META)
    before = family_of(body)

    responses = run_concurrently(*[http_refresh(body["refresh_token"])] * THREADS)

    assert [r.status_code for r in responses] == [200] * THREADS, [r.content for r in responses]
    successors = {r.json()["refresh_token"] for r in responses}
    assert len(successors) == 1
    (successor,) = successors
    assert successor != body["refresh_token"]
    family = RefreshTokenFamily.objects.get(pk=before.pk)
    assert family.revoked_at is None
    assert family.revocation_reason == ""
    assert family.generation == before.generation + 1
    # One chain: the shared successor is the current token and rotates normally.
    after = post_json(Client(), "/auth/refresh/", {"refresh_token": successor}, **CLIENT_META)
    assert after.status_code == 200, after.content
    assert after.json()["refresh_token"] not in (successor, body["refresh_token"])
    family.refresh_from_db()
    assert family.revoked_at is None
    assert family.generation == before.generation + 2


@pytest.mark.parametrize("round_", range(3))  # the interleaving varies: try a few
def test_simultaneous_refreshes_without_grace_one_wins_the_others_are_reuse(
    transactional_db: None, user: Any, login: Any, tokenauth_settings: Any, round_: int
) -> None:
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(0))
    body = login(user, **CLIENT_META)
    before = family_of(body)

    responses = run_concurrently(*[http_refresh(body["refresh_token"])] * THREADS)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (THREADS - 1), f"statuses: {statuses}"
    refused = [r for r in responses if r.status_code == 400]
    assert {r.json()["error"] for r in refused} == {"invalid_grant"}
    family = RefreshTokenFamily.objects.get(pk=before.pk)
    assert family.revoked_at is not None
    assert family.revocation_reason == RevocationReason.REUSE_DETECTED
    assert family.reuse_ip_address == REMOTE_ADDR
    assert family.reuse_user_agent == USER_AGENT
    assert family.generation == before.generation + 1
    (winner,) = [r for r in responses if r.status_code == 200]
    again = post_json(
        Client(), "/auth/refresh/", {"refresh_token": winner.json()["refresh_token"]}, **CLIENT_META
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("round_", range(5))
def test_refresh_racing_logout_ends_revoked(
    transactional_db: None, user: Any, login: Any, round_: int
) -> None:
    body = login(user, **CLIENT_META)
    before = family_of(body)

    refreshed, logged_out = run_concurrently(
        http_refresh(body["refresh_token"]), http_logout(body["refresh_token"])
    )

    assert logged_out.status_code == 204, logged_out.content
    assert refreshed.status_code in (200, 400), refreshed.content
    family = RefreshTokenFamily.objects.get(pk=before.pk)
    assert family.revoked_at is not None
    assert family.revocation_reason == RevocationReason.LOGOUT
    if refreshed.status_code == 400:
        assert refreshed.json()["error"] == "invalid_grant"
        assert family.generation == before.generation
        return
    # Refresh won: logout then presented the preceding token inside the grace window.
    assert family.generation == before.generation + 1
    successor = refreshed.json()
    again = post_json(
        Client(), "/auth/refresh/", {"refresh_token": successor["refresh_token"]}, **CLIENT_META
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    me = Client().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {successor['access_token']}")
    assert me.status_code == 401


def test_a_failure_after_the_compare_and_set_rolls_the_rotation_back(
    transactional_db: None, user: Any, login: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = login(user, **CLIENT_META)
    before = family_of(body)
    generation_seen_by_the_failure: list[int] = []
    real_tokens = _issued_tokens.mint_tokens

    def fail_once(family: RefreshTokenFamily, user: Any, *, now: Any) -> service.IssuedTokens:
        if not generation_seen_by_the_failure:
            # Inside the rotating transaction, after its UPDATE.
            generation_seen_by_the_failure.append(
                RefreshTokenFamily.objects.get(pk=family.pk).generation
            )
            raise RuntimeError("injected after the UPDATE")
        return real_tokens(family, user, now=now)

    monkeypatch.setattr(_issued_tokens, "mint_tokens", fail_once)
    refreshed_signals: list[dict[str, Any]] = []
    signals.token_refreshed.connect(
        lambda **kw: refreshed_signals.append(kw), weak=False, dispatch_uid="test-rollback"
    )
    try:
        with pytest.raises(RuntimeError, match="injected"):
            service.refresh(
                refresh_token=body["refresh_token"], ip=REMOTE_ADDR, user_agent=USER_AGENT
            )

        assert generation_seen_by_the_failure == [before.generation + 1]
        family = RefreshTokenFamily.objects.get(pk=before.pk)
        assert family.generation == before.generation
        assert family.rotated_at == before.rotated_at
        assert family.last_used_at == before.last_used_at
        assert family.idle_expires_at == before.idle_expires_at
        assert family.revoked_at is None
        assert refreshed_signals == []

        response = post_json(
            Client(), "/auth/refresh/", {"refresh_token": body["refresh_token"]}, **CLIENT_META
        )
    finally:
        signals.token_refreshed.disconnect(dispatch_uid="test-rollback")

    assert response.status_code == 200, response.content
    family.refresh_from_db()
    assert family.generation == before.generation + 1
    assert family.revoked_at is None
    assert [s["grace"] for s in refreshed_signals] == [False]


def test_an_old_token_presented_at_once_signals_reuse_once(
    transactional_db: None, user: Any, login: Any, reused_signals: list[dict[str, Any]]
) -> None:
    first = login(user, **CLIENT_META)
    family = family_of(first)
    start = family.generation
    second = service.refresh(
        refresh_token=first["refresh_token"], ip=REMOTE_ADDR, user_agent=USER_AGENT
    )
    service.refresh(refresh_token=second.refresh_token, ip=REMOTE_ADDR, user_agent=USER_AGENT)
    assert reused_signals == []

    responses = run_concurrently(*[http_refresh(first["refresh_token"])] * THREADS)

    assert [r.status_code for r in responses] == [400] * THREADS, [r.content for r in responses]
    assert {r.json()["error"] for r in responses} == {"invalid_grant"}
    assert len(reused_signals) == 1, reused_signals
    assert reused_signals[0]["family_public_id"] == family.public_id
    assert reused_signals[0]["user_id"] == user.pk
    family.refresh_from_db()
    assert family.revoked_at is not None
    assert family.revocation_reason == RevocationReason.REUSE_DETECTED
    assert family.generation == start + 2


@contextlib.contextmanager
def held_open(work: Callable[[], Any]) -> Iterator[None]:
    """Run ``work`` in a transaction on another thread's connection and keep that transaction
    (and every row lock it took) open until the block ends; then it commits."""
    started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                work()
                started.set()
                assert release.wait(timeout=TIMEOUT), "never released"
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)
        finally:
            started.set()
            connection.close()

    holder = threading.Thread(target=hold, name="lock-holder", daemon=True)
    holder.start()
    try:
        assert started.wait(timeout=TIMEOUT)
        assert not errors, errors
        yield
    finally:
        release.set()
        holder.join(timeout=TIMEOUT)
    assert not holder.is_alive(), "the lock holder is still running"
    assert not errors, errors


def test_a_refresh_holds_the_family_row_and_not_the_user_row(
    transactional_db: None, user: Any, login: Any
) -> None:
    body = login(user, **CLIENT_META)
    family = family_of(body)
    refresh = functools.partial(
        service.refresh, refresh_token=body["refresh_token"], ip=REMOTE_ADDR, user_agent=USER_AGENT
    )

    with held_open(refresh):
        # The family row is held (else this test proves nothing)...
        with pytest.raises(DatabaseError), transaction.atomic():
            list(RefreshTokenFamily.objects.select_for_update(nowait=True).filter(pk=family.pk))
        # ...and the user row is not: this UPDATE must not wait (a regression fails in 2 s).
        with lock_timeout(2), transaction.atomic():
            updated = get_user_model().objects.filter(pk=user.pk).update(first_name="Unblocked")
        assert updated == 1

    assert get_user_model().objects.get(pk=user.pk).first_name == "Unblocked"
    assert RefreshTokenFamily.objects.get(pk=family.pk).generation == family.generation + 1


def test_a_refresh_never_waits_on_the_user_row(
    transactional_db: None, user: Any, login: Any
) -> None:
    """A locking join would take the user row too, and deadlock with a password change (user
    row, then the user's families) that runs meanwhile."""
    body = login(user, **CLIENT_META)
    users = get_user_model().objects.filter(pk=user.pk)

    with held_open(lambda: users.update(first_name="Holding")):

        def refresh() -> Any:
            with lock_timeout(2):
                return http_refresh(body["refresh_token"])()

        (response,) = run_concurrently(refresh)
        assert response.status_code == 200, response.content


@pytest.mark.parametrize("round_", range(50))
def test_simultaneous_logins_of_one_user_never_deadlock(
    transactional_db: None, user: Any, round_: int
) -> None:
    """Each login inserts a family (its foreign key check takes a shared lock on the user row)
    and updates ``last_login`` (an exclusive one): the order must let two logins queue."""
    credentials = {"username": user.username, "password": PASSWORD}

    def http_login() -> Any:
        return post_json(Client(), "/auth/login/", credentials, **CLIENT_META)

    responses = run_concurrently(http_login, http_login)

    assert [r.status_code for r in responses] == [200, 200], [r.content for r in responses]
    assert RefreshTokenFamily.objects.filter(user=user, revoked_at=None).count() == 2


@pytest.mark.parametrize("isolation", ["read committed", "repeatable read"])
def test_a_compare_and_set_that_loses_reads_the_winner_whatever_the_snapshot(
    transactional_db: None, user: Any, login: Any, tokenauth_settings: Any, isolation: str
) -> None:
    """The family is read, another connection rotates it and commits, then this transaction's
    compare-and-set finds nothing. Under InnoDB's REPEATABLE READ a plain re-read returns the
    snapshot (the stale generation); only a locking read sees the winner."""
    if connection.vendor != "mysql" and isolation != "read committed":
        pytest.skip("PostgreSQL ends such a transaction with a serialization failure instead")
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(seconds=10))
    body = login(user, **CLIENT_META)
    parsed = _refresh_tokens.parse(body["refresh_token"])
    assert parsed is not None
    level = isolation.upper()
    with connection.cursor() as cursor:
        cursor.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {level}")
    try:
        with transaction.atomic():
            stale = RefreshTokenFamily.objects.get(public_id=parsed.public_id)  # the snapshot
            (winner,) = run_concurrently(http_refresh(body["refresh_token"]))
            assert winner.status_code == 200, winner.content
            client = _client_info.Client(REMOTE_ADDR, USER_AGENT)
            outcome = _family.rotate(stale, parsed.generation, client, timezone.now())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")

    assert isinstance(outcome, service.IssuedTokens), outcome
    assert outcome.refresh_token == winner.json()["refresh_token"]
    assert RefreshTokenFamily.objects.get(pk=stale.pk).generation == parsed.generation + 1
