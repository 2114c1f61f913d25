"""``tokenauth_purge`` and ``service.purge_expired`` (DESIGN §11): what goes, what stays, and
how: primary-key-range batches, each its own transaction, beside live traffic and another purge.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection, connections, transaction
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import lock_timeout, post_json, requires_redis, requires_server_database
from tests.factories import UserFactory
from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=dt_timezone.utc)  # far from the real clock on purpose
IDLE = timedelta(days=7)  # the defaults of DESIGN §1, set explicitly below
ABSOLUTE = timedelta(days=30)
AFTER_IDLE = T0 + IDLE + timedelta(hours=1)  # families issued at T0 have expired
_ROW_STATEMENTS = ("SELECT", "DELETE", "UPDATE", "INSERT")  # DESIGN §5: what a budget counts
TIMEOUT = 30  # seconds, for threads and barriers


@pytest.fixture(autouse=True)
def _lifetimes(tokenauth_settings: Any) -> None:
    tokenauth_settings(REFRESH_TOKEN_IDLE_LIFETIME=IDLE, REFRESH_TOKEN_ABSOLUTE_LIFETIME=ABSOLUTE)


def _command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("tokenauth_purge", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _purge(at: datetime, *args: str) -> str:
    """Run the command at ``at``; its stdout."""
    with time_machine.travel(at, tick=False):
        return _command(*args)[0]


def _issue(user: Any, now: datetime = T0) -> service.IssuedTokens:
    return service.issue_tokens(user=user, now=now)


def _row(tokens: service.IssuedTokens) -> RefreshTokenFamily | None:
    return RefreshTokenFamily.objects.filter(public_id=tokens.family_public_id).first()


def _exists(tokens: service.IssuedTokens) -> bool:
    return _row(tokens) is not None


def _revoke(tokens: service.IssuedTokens, now: datetime) -> None:
    assert service.revoke_family(
        family_public_id=tokens.family_public_id, reason=RevocationReason.LOGOUT, now=now
    )


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().split()[0].upper() in _ROW_STATEMENTS
    ]


def _deletes(queries: CaptureQueriesContext) -> list[str]:
    return [sql for sql in _statements(queries) if sql.lstrip().upper().startswith("DELETE")]


def _mixed(user: Any) -> dict[str, list[service.IssuedTokens]]:
    """At ``AFTER_IDLE``, with ``--keep-revoked-days 3``: 3 expired, 2 revoked long ago, and 3
    to keep (live, revoked lately though expired, live though issued before the others)."""
    families: dict[str, list[service.IssuedTokens]] = {"expired": [], "revoked": [], "kept": []}
    families["kept"].append(_issue(user, T0 + timedelta(days=2)))
    for _ in range(3):
        families["expired"].append(_issue(user, T0))
    for _ in range(2):
        old = _issue(user, T0)
        _revoke(old, T0 + timedelta(days=1))
        families["revoked"].append(old)
    lately = _issue(user, T0)
    _revoke(lately, AFTER_IDLE - timedelta(days=1))
    families["kept"] += [lately, _issue(user, T0 + timedelta(days=3))]
    return families


def _public_ids(families: list[service.IssuedTokens]) -> set[str]:
    return {tokens.family_public_id for tokens in families}


def _left() -> set[str]:
    return set(RefreshTokenFamily.objects.values_list("public_id", flat=True))


# --- what is deleted and what is kept -------------------------------------------------------


@pytest.mark.django_db
def test_purge_deletes_idle_expired_families_and_keeps_live_ones(user: Any) -> None:
    idle_expired = _issue(user, T0)
    live = _issue(user, T0 + timedelta(days=2))

    out = _purge(T0 + IDLE + timedelta(seconds=1))

    assert out == "Deleted 1 expired and 0 revoked families.\n"
    assert not _exists(idle_expired)
    assert _exists(live)


@pytest.mark.django_db
def test_purge_deletes_at_exactly_the_idle_expiry_and_not_before(user: Any) -> None:
    # Refresh refuses a family from ``now >= idle_expires_at``: purge agrees on the boundary.
    tokens = _issue(user, T0)
    _purge(T0 + IDLE - timedelta(microseconds=1))
    assert _exists(tokens)
    _purge(T0 + IDLE)
    assert not _exists(tokens)


@pytest.mark.django_db
def test_purge_deletes_a_family_refreshed_up_to_its_absolute_expiry(user: Any) -> None:
    tokens = _issue(user, T0)
    refresh_token = tokens.refresh_token
    for day in (6, 12, 18, 24, 29):  # never idle for 7 days
        refresh_token = service.refresh(
            refresh_token=refresh_token, ip=None, user_agent="", now=T0 + timedelta(days=day)
        ).refresh_token
    row = _row(tokens)
    assert row is not None
    assert row.idle_expires_at == T0 + ABSOLUTE  # capped by the absolute expiry
    fresh = _issue(user, T0 + timedelta(days=29))

    assert _purge(T0 + ABSOLUTE - timedelta(microseconds=1)).startswith("Deleted 0 expired")
    assert _exists(tokens)

    out = _purge(T0 + ABSOLUTE)

    assert "Deleted 1 expired and 0 revoked families." in out
    assert not _exists(tokens)
    assert _exists(fresh)


@pytest.mark.django_db
def test_purge_deletes_at_exactly_the_absolute_expiry_whatever_the_idle_one(user: Any) -> None:
    # Rotation never pushes idle expiry past the absolute one; a row edited by hand (or by an
    # older version) must still go at its absolute expiry, and not a microsecond before.
    tokens = _issue(user, T0)
    RefreshTokenFamily.objects.filter(public_id=tokens.family_public_id).update(
        idle_expires_at=T0 + ABSOLUTE + IDLE
    )

    assert _purge(T0 + ABSOLUTE - timedelta(microseconds=1)).startswith("Deleted 0 expired")
    assert _exists(tokens)

    out = _purge(T0 + ABSOLUTE)

    assert out == "Deleted 1 expired and 0 revoked families.\n"
    assert not _exists(tokens)


@pytest.mark.django_db
def test_purge_keeps_recently_revoked_families_and_deletes_old_ones(user: Any) -> None:
    recent = _issue(user, T0)
    _revoke(recent, T0 + timedelta(days=9))  # also idle-expired: the reason it is kept is evidence
    old = _issue(user, T0)
    _revoke(old, T0 + timedelta(days=1))
    live = _issue(user, T0 + timedelta(days=9))
    now = T0 + timedelta(days=10, hours=1)

    out = _purge(now, "--keep-revoked-days", "5")

    assert "Deleted 0 expired and 1 revoked families." in out
    assert _exists(recent)
    assert not _exists(old)
    assert _exists(live)

    out = _purge(now, "--keep-revoked-days", "1")

    assert "Deleted 0 expired and 1 revoked families." in out
    assert not _exists(recent)
    assert _exists(live)


@pytest.mark.django_db
def test_purge_deletes_a_family_revoked_exactly_the_kept_days_ago_and_not_later(
    user: Any,
) -> None:
    tokens = _issue(user, T0)
    _revoke(tokens, T0 + timedelta(hours=1))
    revoked_at = T0 + timedelta(hours=1)

    assert "0 revoked" in _purge(revoked_at + timedelta(days=3, microseconds=-1), *_keep(3))
    assert _exists(tokens)
    assert "Deleted 0 expired and 1 revoked families." in _purge(
        revoked_at + timedelta(days=3), *_keep(3)
    )
    assert not _exists(tokens)


def _keep(days: int) -> tuple[str, str]:
    return ("--keep-revoked-days", str(days))


@pytest.mark.django_db
def test_keep_revoked_days_zero_deletes_every_revoked_family_and_no_live_one(user: Any) -> None:
    revoked = _issue(user, T0)
    _revoke(revoked, T0 + timedelta(hours=1))
    live = _issue(user, T0)

    out = _purge(T0 + timedelta(hours=1), *_keep(0))

    assert out == "Deleted 0 expired and 1 revoked families.\n"
    assert not _exists(revoked)
    assert _exists(live)


@pytest.mark.django_db
def test_purge_keeps_revoked_families_seven_days_by_default(user: Any) -> None:
    recent = _issue(user, T0)
    _revoke(recent, T0 + timedelta(days=1))
    old = _issue(user, T0)
    _revoke(old, T0)

    out = _purge(T0 + timedelta(days=7, hours=12))

    assert "Deleted 0 expired and 1 revoked families." in out
    assert _exists(recent)
    assert not _exists(old)


@pytest.mark.django_db
def test_purge_sorts_a_mixed_table_into_expired_revoked_and_kept(user: Any) -> None:
    families = _mixed(user)

    out = _purge(AFTER_IDLE, *_keep(3))

    assert out == "Deleted 3 expired and 2 revoked families.\n"
    assert _left() == _public_ids(families["kept"])


@pytest.mark.django_db
def test_purge_with_nothing_to_do_prints_zero_counts(user: Any) -> None:
    _issue(user, T0)
    out, err = _command()  # the real clock: T0's family is years ahead of it
    assert out == "Deleted 0 expired and 0 revoked families.\n"
    assert err.count("\n") == 1  # one range, nothing in it


@pytest.mark.django_db
def test_purge_of_an_empty_table_reads_one_statement_and_reports_no_batch() -> None:
    with CaptureQueriesContext(connection) as queries:
        out, err = _command()
    assert out == "Deleted 0 expired and 0 revoked families.\n"
    assert err == ""
    assert len(_statements(queries)) == 1  # MAX(id), nothing to walk


@pytest.mark.django_db
def test_purged_family_refresh_token_is_refused_and_nothing_else_is_revoked(
    user: Any, client: Client
) -> None:
    expired = _issue(user, T0)
    live = _issue(user, T0 + timedelta(days=5))
    _purge(AFTER_IDLE)
    assert not _exists(expired)

    with time_machine.travel(AFTER_IDLE, tick=False):
        refused = post_json(client, "/auth/refresh/", {"refresh_token": expired.refresh_token})
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
        assert RefreshTokenFamily.objects.filter(revoked_at__isnull=False).count() == 0
        refreshed = post_json(client, "/auth/refresh/", {"refresh_token": live.refresh_token})
        assert refreshed.status_code == 200, refreshed.content


# --- dry run ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dry_run_reports_what_would_go_and_deletes_nothing(user: Any) -> None:
    families = _mixed(user)
    before = _left()

    with (
        time_machine.travel(AFTER_IDLE, tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        out, err = _command("--dry-run", *_keep(3))

    assert out == (
        "Would delete 3 expired and 2 revoked families (dry run: nothing was deleted).\n"
    )
    assert err == ""
    assert _left() == before
    assert len(_statements(queries)) == 1  # one counting SELECT, no DELETE
    assert not _deletes(queries)
    # ... and the real run then deletes exactly those.
    assert _purge(AFTER_IDLE, *_keep(3)) == "Deleted 3 expired and 2 revoked families.\n"
    assert _left() == _public_ids(families["kept"])


@pytest.mark.django_db
def test_dry_run_through_the_service_returns_the_counts(user: Any) -> None:
    _mixed(user)
    result = service.purge_expired(now=AFTER_IDLE, keep_revoked_for=timedelta(days=3), dry_run=True)
    assert result == service.PurgeResult(expired=3, revoked=2)
    assert RefreshTokenFamily.objects.count() == 8


# --- output -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_progress_goes_to_stderr_one_line_per_batch_and_the_summary_to_stdout(
    user: Any,
) -> None:
    _mixed(user)  # 8 families: batches of 3, 3 and 2
    ids = sorted(RefreshTokenFamily.objects.values_list("pk", flat=True))

    with time_machine.travel(AFTER_IDLE, tick=False):
        out, err = _command("--batch-size", "3", *_keep(3))

    assert out == "Deleted 3 expired and 2 revoked families.\n"
    lines = err.splitlines()
    assert len(lines) == 3, err
    top = ids[-1]
    # _mixed: kept, 3 expired, 2 revoked, kept, kept in pk order
    assert lines == [
        f"batch 1: ids up to {ids[2]} of {top}: deleted 2 expired and 0 revoked families "
        "(2 and 0 so far)",
        f"batch 2: ids up to {ids[5]} of {top}: deleted 1 expired and 2 revoked families "
        "(3 and 2 so far)",
        f"batch 3: ids up to {top} of {top}: deleted 0 expired and 0 revoked families "
        "(3 and 2 so far)",
    ]


@pytest.mark.django_db
def test_verbosity_zero_prints_the_summary_alone(user: Any) -> None:
    _issue(user, T0)
    with time_machine.travel(AFTER_IDLE, tick=False):
        out, err = _command("--verbosity", "0")
    assert out == "Deleted 1 expired and 0 revoked families.\n"
    assert err == ""


@pytest.mark.django_db(transaction=True)  # run_from_argv closes the connections when done
def test_the_command_runs_no_system_checks(
    user: Any, tokenauth_settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """From the command line (cron), as ``manage.py`` runs it: a check warning (here W003,
    the throttle on a LocMem cache) would be mailed every night. The purge reads no setting."""
    tokenauth_settings(LOGIN_THROTTLE_RATE="10/min")
    _issue(user, T0)
    with time_machine.travel(AFTER_IDLE, tick=False):
        execute_from_command_line(["manage.py", "tokenauth_purge", "--verbosity", "0"])
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == "Deleted 1 expired and 0 revoked families.\n"


# --- bad arguments ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be between 1 and 1000000"),
        (["--batch-size", "-5"], "--batch-size must be between 1 and 1000000"),
        (["--batch-size", "1000001"], "--batch-size must be between 1 and 1000000"),
        (["--batch-size", str(2**64)], "--batch-size must be between 1 and 1000000"),
        (["--batch-size", "ten"], "invalid int value: 'ten'"),
        (["--batch-size", "1.5"], "invalid int value: '1.5'"),
        (["--keep-revoked-days", "-1"], "--keep-revoked-days must be 0 or more"),
        (["--keep-revoked-days", "800000"], "reaches back before year 1"),
        (["--keep-revoked-days", str(10**12)], "reaches back before year 1"),
        (["--keep-revoked-days", "7d"], "invalid int value: '7d'"),
        (["--keep-revoked-days", "\x00"], "invalid int value"),
        (["--dry-run", "--batch-size", "0"], "--batch-size must be between 1 and 1000000"),
    ],
)
def test_bad_arguments_are_a_command_error_and_delete_nothing(
    user: Any, args: list[str], message: str
) -> None:
    expired = _issue(user, T0)
    revoked = _issue(user, T0)
    _revoke(revoked, T0)

    with time_machine.travel(T0 + ABSOLUTE, tick=False), pytest.raises(CommandError) as raised:
        _command(*args)

    assert message in str(raised.value)
    assert _exists(expired)
    assert _exists(revoked)


@pytest.mark.django_db
def test_the_largest_values_allowed_work(user: Any) -> None:
    expired = _issue(user, T0)
    out = _purge(T0 + ABSOLUTE, "--batch-size", "1000000", *_keep(36_500))
    assert out == "Deleted 1 expired and 0 revoked families.\n"
    assert not _exists(expired)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "arguments",
    [{"batch_size": 0}, {"batch_size": -1}, {"keep_revoked_for": timedelta(seconds=-1)}],
)
def test_the_service_refuses_bad_arguments(user: Any, arguments: dict[str, Any]) -> None:
    _issue(user, T0)
    with pytest.raises(ValueError, match="must"):
        service.purge_expired(now=AFTER_IDLE, **arguments)
    assert RefreshTokenFamily.objects.count() == 1


# --- batches ------------------------------------------------------------------------------


def _batches(**arguments: Any) -> tuple[service.PurgeResult, list[service.PurgeBatch], list[int]]:
    """Purge at ``AFTER_IDLE``; the result, each batch, and the statements each batch took."""
    batches: list[service.PurgeBatch] = []
    marks: list[int] = []
    with CaptureQueriesContext(connection) as queries:

        def on_batch(batch: service.PurgeBatch) -> None:
            batches.append(batch)
            marks.append(len(_statements(queries)))
            assert batch.number <= 100, "a walk that does not end"

        result = service.purge_expired(now=AFTER_IDLE, on_batch=on_batch, **arguments)
    # The first batch's statements follow the purge's one MAX(id).
    per_batch = [later - earlier for earlier, later in zip([1, *marks[:-1]], marks, strict=True)]
    assert len(_statements(queries)) == 1 + sum(per_batch)
    return result, batches, per_batch


@pytest.mark.django_db
@pytest.mark.parametrize(("families", "batch_size"), [(1, 1), (12, 1), (12, 5), (12, 12), (40, 7)])
def test_each_batch_costs_three_statements_whatever_the_rows(
    user: Any, families: int, batch_size: int
) -> None:
    """One pk SELECT (where the range ends) and two DELETEs (old revoked, expired), and one
    MAX(id) for the whole purge: the budget does not grow with the rows or the batches."""
    for _ in range(families):
        _issue(user, T0)

    with CaptureQueriesContext(connection) as queries:
        result, batches, per_batch = _batches(batch_size=batch_size)

    assert result == service.PurgeResult(expired=families, revoked=0)
    assert len(batches) == math.ceil(families / batch_size)
    assert per_batch == [3] * len(batches)
    assert len(_deletes(queries)) == 2 * len(batches)
    assert RefreshTokenFamily.objects.count() == 0


@pytest.mark.django_db
def test_the_purge_never_loads_a_row_nor_counts_the_table(user: Any) -> None:
    _mixed(user)
    with CaptureQueriesContext(connection) as queries:
        _batches(batch_size=3, keep_revoked_for=timedelta(days=3))
    table = RefreshTokenFamily._meta.db_table
    selects = [sql for sql in _statements(queries) if sql.lstrip().upper().startswith("SELECT")]
    assert selects
    for sql in selects:
        # Only the primary key is ever read: no secret, no public id, no COUNT(*).
        selected = sql.upper().split(" FROM ")[0]
        assert "COUNT" not in selected, sql
        for column in ("secret", "public_id", "user_id", "generation"):
            assert column.upper() not in selected, sql
        assert table in sql
    # No subquery on the table a DELETE deletes from (MariaDB refuses one): one FROM each.
    for sql in _deletes(queries):
        assert sql.upper().count("SELECT") == 0, sql


@pytest.mark.django_db
def test_batches_hold_batch_size_rows_across_pk_gaps(user: Any) -> None:
    expired = [_issue(user, T0) for _ in range(7)]
    live = [_issue(user, T0 + timedelta(days=3)) for _ in range(2)]
    # Spread the ids out: gaps of a thousand, a million and a billion between neighbours.
    for tokens, offset in [(expired[4], 1_000), (expired[6], 1_000_000), (live[0], 10**9)]:
        RefreshTokenFamily.objects.filter(public_id=tokens.family_public_id).update(
            id=F("id") + offset
        )
    ids = sorted(RefreshTokenFamily.objects.values_list("pk", flat=True))

    result, batches, per_batch = _batches(batch_size=2)

    assert result == service.PurgeResult(expired=7, revoked=0)
    assert [b.last_id for b in batches] == [ids[1], ids[3], ids[5], ids[7], ids[8]]
    assert {b.max_id for b in batches} == {ids[-1]}
    assert sum(b.expired for b in batches) == 7
    assert batches[-1].total == result
    assert per_batch == [3] * 5
    assert _left() == _public_ids(live)


@pytest.mark.django_db
def test_a_family_refreshed_between_batches_is_kept(user: Any) -> None:
    """The DELETE itself says what is purgeable: a family that came back to life after the purge
    began (refreshed by a server whose clock is two seconds behind the purge's) is kept."""
    now = T0 + IDLE + timedelta(seconds=1)  # everything issued at T0 has just expired
    first = [_issue(user, T0) for _ in range(2)]
    comeback = _issue(user, T0)
    revoked_meanwhile = _issue(user, T0 + timedelta(days=1))  # live at ``now``
    rest = [_issue(user, T0) for _ in range(2)]
    late: dict[str, str] = {}

    def between(batch: service.PurgeBatch) -> None:
        if batch.number == 1:
            assert _exists(comeback)  # its range is still to come
            late["refresh_token"] = service.refresh(
                refresh_token=comeback.refresh_token,
                ip=None,
                user_agent="",
                now=T0 + IDLE - timedelta(seconds=1),
            ).refresh_token
            _revoke(revoked_meanwhile, now)

    result = service.purge_expired(now=now, batch_size=2, on_batch=between)

    assert result == service.PurgeResult(expired=4, revoked=0)
    assert _left() == _public_ids([comeback, revoked_meanwhile])
    assert not any(_exists(tokens) for tokens in first + rest)
    service.refresh(refresh_token=late["refresh_token"], ip=None, user_agent="", now=now)


@pytest.mark.django_db
def test_the_command_passes_the_batch_size_on(user: Any) -> None:
    expired = [_issue(UserFactory(), T0) for _ in range(5)]
    live = _issue(user, T0 + timedelta(days=5))

    with CaptureQueriesContext(connection) as queries:
        out = _purge(AFTER_IDLE, "--batch-size", "2")

    assert out == "Deleted 5 expired and 0 revoked families.\n"
    assert len(_deletes(queries)) == 2 * 3  # 2 + 2 + 2 rows: three ranges, two DELETEs each
    assert not any(_exists(tokens) for tokens in expired)
    assert _exists(live)


# --- cache mode: no markers -------------------------------------------------------------------


@pytest.fixture(params=["default", pytest.param("redis", marks=requires_redis)])
def cache_mode(request: pytest.FixtureRequest, tokenauth_settings: Callable[..., None]) -> str:
    """LocMem, and real Redis when REDIS_URL is set."""
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="cache", CACHE_ALIAS=request.param)
    return str(request.param)


@pytest.mark.django_db
@pytest.mark.usefixtures("cache_mode")
def test_the_purge_writes_no_cache_marker(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """No post_delete per row: nothing it deletes has an access token that a marker would stop
    (see ``tokenauth._purge._delete``), and a marker per row would cost a cache write each."""
    _mixed(user)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = service.purge_expired(
            now=AFTER_IDLE, batch_size=2, keep_revoked_for=timedelta(days=3)
        )

    assert result == service.PurgeResult(expired=3, revoked=2)
    assert callbacks == []


# --- server databases: a second purge, a held lock ---------------------------------------------


@contextlib.contextmanager
def _thread_connection() -> Iterator[None]:
    try:
        yield
    finally:
        connection.close()  # this thread's own connection


def _in_threads(*targets: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []

    def work(index: int, target: Callable[[], Any]) -> None:
        with _thread_connection():
            try:
                barrier.wait(timeout=TIMEOUT)
                results[index] = target()
            except BaseException as exc:  # reported to the main thread below
                errors.append(exc)
                barrier.abort()

    threads = [
        threading.Thread(target=work, args=(i, t), daemon=True) for i, t in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a purge hung"
    assert not errors, errors
    return results


@requires_server_database
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_two_purges_at_once_delete_everything_once_without_error(
    transactional_db: None, user: Any, batch_size: int
) -> None:
    expired = [_issue(user, T0) for _ in range(30)]
    revoked = [_issue(user, T0) for _ in range(10)]
    for tokens in revoked:
        _revoke(tokens, T0 + timedelta(hours=1))
    live = [_issue(user, T0 + timedelta(days=3)) for _ in range(10)]
    # Both walk the same ranges in step: each batch starts in both at once, so their DELETEs
    # meet on the same rows (one waits for the other's, then finds them gone).
    lockstep = threading.Barrier(2)

    def in_step(batch: service.PurgeBatch) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            lockstep.wait(timeout=TIMEOUT)

    def purge() -> service.PurgeResult:
        try:
            return service.purge_expired(
                now=AFTER_IDLE,
                batch_size=batch_size,
                keep_revoked_for=timedelta(days=3),
                on_batch=in_step,
            )
        finally:
            lockstep.abort()  # the other one no longer waits for this one

    first, second = _in_threads(purge, purge)

    assert first.expired + second.expired == len(expired)
    assert first.revoked + second.revoked == len(revoked)
    assert _left() == _public_ids(live)


@requires_server_database
def test_a_lock_held_past_the_timeout_stops_the_purge_with_what_it_committed(
    transactional_db: None, user: Any
) -> None:
    families = [_issue(user, T0) for _ in range(8)]  # batches: [0, 1], [2, 3], [4, 5], [6, 7]
    locked = threading.Event()
    release = threading.Event()

    def hold_the_sixth() -> None:
        # Not the first row of its batch: InnoDB's range scan for the batch before also reads
        # the first row after its range, and would wait for that one's lock.
        with _thread_connection(), transaction.atomic():
            RefreshTokenFamily.objects.select_for_update().get(
                public_id=families[5].family_public_id
            )
            locked.set()
            release.wait(timeout=TIMEOUT)

    holder = threading.Thread(target=hold_the_sixth, daemon=True)
    holder.start()
    try:
        assert locked.wait(timeout=TIMEOUT)
        with (
            lock_timeout(1),
            time_machine.travel(AFTER_IDLE, tick=False),
            pytest.raises(CommandError) as raised,
        ):
            _command("--batch-size", "2")
    finally:
        release.set()
        holder.join(timeout=TIMEOUT)

    assert str(raised.value).startswith(
        "Stopped by a database error after 2 committed batches (4 expired and 0 revoked "
        "families deleted; run it again to go on): "
    )
    assert _left() == _public_ids(families[4:])  # the third batch rolled back whole
    assert _purge(AFTER_IDLE, "--batch-size", "2") == "Deleted 4 expired and 0 revoked families.\n"
    assert _left() == set()


def _a_delete_waits() -> bool:
    """Whether a DELETE on the server waits for a row lock right now (InnoDB's own lock-wait
    view misses some waits; a five-row DELETE still running is waiting)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE%%'"
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM information_schema.processlist WHERE info LIKE 'DELETE%%'"
            )
        return bool(cursor.fetchone()[0])


@requires_server_database
def test_a_batch_that_loses_a_deadlock_is_run_again_and_the_purge_goes_on(
    transactional_db: None, user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    revoked = [_issue(user, T0) for _ in range(5)]
    for tokens in revoked:
        _revoke(tokens, T0 + timedelta(hours=1))
    expired = [_issue(user, T0) for _ in range(5)]
    # The other transaction is the heavier one (InnoDB rolls back the lighter; PostgreSQL the
    # one whose deadlock check runs first: the purge's, which waits first), so the purge loses.
    type(user).objects.bulk_create(
        type(user)(username=f"heavy-{n}", password="!") for n in range(600)
    )
    heavy = type(user).objects.filter(username__startswith="heavy-")
    holding = threading.Event()
    purge_waits = threading.Event()
    other: list[BaseException] = []

    def the_other_transaction() -> None:
        with _thread_connection():
            try:
                with transaction.atomic():
                    assert heavy.update(first_name="x") == 600
                    row = RefreshTokenFamily.objects.select_for_update()
                    row.get(public_id=expired[2].family_public_id)
                    holding.set()
                    assert purge_waits.wait(timeout=TIMEOUT)
                    row.get(public_id=revoked[2].family_public_id)  # the purge holds it: a cycle
            except BaseException as exc:  # reported below
                other.append(exc)

    thread = threading.Thread(target=the_other_transaction, daemon=True)
    thread.start()
    assert holding.wait(timeout=TIMEOUT)

    def watch() -> None:
        with _thread_connection():
            for _ in range(TIMEOUT * 20):
                if _a_delete_waits():
                    purge_waits.set()
                    return
                time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # The revoked rows go first, then the purge waits on the held expired row.
    result = service.purge_expired(
        now=AFTER_IDLE, batch_size=1000, keep_revoked_for=timedelta(days=3)
    )
    thread.join(timeout=TIMEOUT)
    watcher.join(timeout=TIMEOUT)

    assert purge_waits.is_set()
    assert other == []  # the other transaction won and committed
    assert result == service.PurgeResult(expired=5, revoked=5)
    assert _left() == set()
    assert heavy.filter(first_name="x").count() == 600
    assert "tokenauth: a purge batch lost a deadlock; running it again (1)" in caplog.messages


requires_postgresql = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="PostgreSQL's synchronous_commit: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test",
)


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@requires_postgresql
def test_on_postgresql_a_batch_commits_without_waiting_for_the_flush_and_only_itself(
    transactional_db: None, user: Any
) -> None:
    for _ in range(5):
        _issue(user, T0)
    with CaptureQueriesContext(connection) as queries:
        result = service.purge_expired(now=AFTER_IDLE, batch_size=2)
    assert result == service.PurgeResult(expired=5, revoked=0)
    sets = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SET LOCAL")]
    assert sets == ["SET LOCAL synchronous_commit = off"] * 3  # one per batch
    assert _synchronous_commit() == "on"  # the session's setting is untouched


@requires_postgresql
def test_inside_a_callers_transaction_its_durability_is_left_alone(
    transactional_db: None, user: Any
) -> None:
    _issue(user, T0)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        service.purge_expired(now=AFTER_IDLE, batch_size=2)
        assert _synchronous_commit() == "on"
    assert not [q for q in queries.captured_queries if q["sql"].startswith("SET")]
    assert RefreshTokenFamily.objects.count() == 0


# --- database routers ---------------------------------------------------------------------


@pytest.mark.django_db(databases=["default", "auth"], transaction=True)
@pytest.mark.parametrize("router", ["AuthRouter", "LaggingReplicaRouter"])
def test_the_purge_runs_on_the_families_database(settings: Any, router: str) -> None:
    """Reads too: a lagging replica (the router's ``db_for_read``) is never asked."""
    settings.DATABASE_ROUTERS = [f"tests.routers.{router}"]
    owner = UserFactory()  # written to "auth" too
    expired = _issue(owner, T0)
    live = _issue(owner, T0 + timedelta(days=3))

    with (
        CaptureQueriesContext(connections["default"]) as default_queries,
        CaptureQueriesContext(connections["auth"]) as auth_queries,
    ):
        result = service.purge_expired(now=AFTER_IDLE, batch_size=1)

    assert result == service.PurgeResult(expired=1, revoked=0)
    assert default_queries.captured_queries == []
    assert len(_deletes(auth_queries)) == 2 * 2
    families = RefreshTokenFamily.objects.using("auth")
    assert set(families.values_list("public_id", flat=True)) == {live.family_public_id}
    assert not families.filter(public_id=expired.family_public_id).exists()
