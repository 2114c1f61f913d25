"""Database statements per operation, as docs/performance.md's table says (DESIGN §5 budgets).

Only statements that read or write rows count: BEGIN, COMMIT, SAVEPOINT and RELEASE do not.
The counts are the same on SQLite, PostgreSQL and MariaDB; where the statements differ by
backend (the refresh read's lock), the test says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import post_json
from tests.factories import PASSWORD

_NOT_COUNTED = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


def statements(action: Callable[[], Any]) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = action()
    sql = [q["sql"] for q in captured.captured_queries]
    return result, [s for s in sql if not s.lstrip().upper().startswith(_NOT_COUNTED)]


def login_body(client: Client, user: Any) -> dict[str, Any]:
    body = {"username": user.username, "password": PASSWORD}
    return post_json(client, "/auth/login/", body).json()


@pytest.mark.parametrize("throttle_rate", [None, "10/min"])
def test_login_is_three_statements(
    client: Client, user: Any, tokenauth_settings: Any, throttle_rate: str | None
) -> None:
    tokenauth_settings(LOGIN_THROTTLE_RATE=throttle_rate)  # the throttle counts in the cache
    body = {"username": user.username, "password": PASSWORD}

    response, sql = statements(lambda: post_json(client, "/auth/login/", body))

    assert response.status_code == 200
    assert len(sql) == 3, sql  # user lookup, last_login UPDATE, family INSERT
    # In that order: the user row's exclusive lock before the foreign key check's shared one,
    # or two logins of one user deadlock on InnoDB.
    assert [s.lstrip().split()[0].upper() for s in sql] == ["SELECT", "UPDATE", "INSERT"], sql


def test_refresh_is_two_statements_and_a_grace_replay_one(client: Client, user: Any) -> None:
    token = login_body(client, user)["refresh_token"]

    first, rotate_sql = statements(
        lambda: post_json(client, "/auth/refresh/", {"refresh_token": token})
    )
    replay, grace_sql = statements(
        lambda: post_json(client, "/auth/refresh/", {"refresh_token": token})
    )

    assert first.status_code == replay.status_code == 200
    assert len(rotate_sql) == 2, rotate_sql  # join of family and user, the CAS UPDATE
    assert rotate_sql[1].lstrip().upper().startswith("UPDATE")
    # Locked where the family row alone can be (FOR UPDATE OF); MariaDB and SQLite rely on
    # the compare-and-set, never on a lock that would take the user row too.
    locked = "FOR UPDATE" in rotate_sql[0].upper()
    assert locked == connection.features.has_select_for_update_of, rotate_sql[0]
    assert len(grace_sql) == 1, grace_sql  # the read; a grace replay writes nothing


def test_reuse_is_two_statements_and_a_forged_token_one(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(0))
    token = login_body(client, user)["refresh_token"]
    post_json(client, "/auth/refresh/", {"refresh_token": token})
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    reused, reuse_sql = statements(
        lambda: post_json(client, "/auth/refresh/", {"refresh_token": token})
    )
    refused, forged_sql = statements(
        lambda: post_json(client, "/auth/refresh/", {"refresh_token": forged})
    )

    assert reused.status_code == refused.status_code == 400
    assert len(reuse_sql) == 2, reuse_sql  # the read, one revoking UPDATE
    assert len(forged_sql) == 1, forged_sql  # the read; a forgery changes nothing


def test_logout_is_two_statements(client: Client, user: Any) -> None:
    token = login_body(client, user)["refresh_token"]

    response, sql = statements(lambda: post_json(client, "/auth/logout/", {"refresh_token": token}))

    assert response.status_code == 204
    assert len(sql) == 2, sql


@pytest.mark.parametrize(("mode", "expected"), [("database", 1), ("cache", 0), ("none", 0)])
def test_an_authenticated_request_costs(
    client: Client, user: Any, tokenauth_settings: Any, mode: str, expected: int
) -> None:
    access_token = login_body(client, user)["access_token"]
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)

    response, sql = statements(
        lambda: client.get("/api/whoami/", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    )

    assert response.status_code == 200
    assert len(sql) == expected, sql
