"""Auth tables routed to a database of their own (DESIGN §2 "Databases"), over HTTP.

tests/routers.py sends auth, contenttypes and tokenauth to the "auth" database; the
``LaggingReplicaRouter`` also sends their reads to a replica that stopped catching up once the
test's user was copied there, so any family state read there is wrong. Every test runs for both
routers, in transactional tests: real commits, since inside a test's own transaction the "auth"
connection is never in autocommit, and a locking read outside tokenauth's transaction would
pass unnoticed on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import post_json
from tests.factories import PASSWORD
from tokenauth import _family_lookup, _issued_tokens, signals
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db(databases=["default", "auth"], transaction=True)

_NOT_COUNTED = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


@pytest.fixture(
    params=["tests.routers.AuthRouter", "tests.routers.LaggingReplicaRouter"],
    ids=["auth-database", "lagging-replica"],
)
def routed(request: Any, settings: Any) -> None:
    settings.DATABASE_ROUTERS = [request.param]


@pytest.fixture
def user(routed: None) -> Any:
    user_model = get_user_model()
    user = user_model.objects.create_user("alice", password=PASSWORD)  # written to "auth"
    replica_copy = user_model(
        **{f.attname: getattr(user, f.attname) for f in user_model._meta.concrete_fields}
    )
    user_model.objects.using("default").bulk_create([replica_copy])  # all the replica ever got
    return user


def _families() -> Any:
    return RefreshTokenFamily.objects.using("auth")


def _login(client: Client, user: Any) -> dict[str, Any]:
    response = post_json(client, "/auth/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(client: Client, refresh_token: str) -> Any:
    return post_json(client, "/auth/refresh/", {"refresh_token": refresh_token})


def _me(client: Client, access_token: str) -> int:
    return client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access_token}").status_code


def test_login_starts_the_family_in_the_routed_database(client: Client, user: Any) -> None:
    body = _login(client, user)

    assert _families().get().user_id == user.pk
    assert not RefreshTokenFamily.objects.using("default").exists()
    assert get_user_model().objects.using("auth").get().last_login is not None
    assert _me(client, body["access_token"]) == 200


def test_refresh_rotates_in_the_routed_database(client: Client, user: Any) -> None:
    body = _login(client, user)

    response = _refresh(client, body["refresh_token"])

    assert response.status_code == 200, response.content
    assert _families().get().generation == 1
    assert _me(client, response.json()["access_token"]) == 200


def test_reuse_is_invalid_grant_and_revokes_the_family(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(0))
    first = _login(client, user)["refresh_token"]
    second = _refresh(client, first).json()["refresh_token"]

    reused = _refresh(client, first)

    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    family = _families().get()
    assert family.revocation_reason == RevocationReason.REUSE_DETECTED
    assert family.reuse_detected_at is not None
    assert _refresh(client, second).status_code == 400


def test_logout_revokes_the_family_and_its_access_tokens(client: Client, user: Any) -> None:
    body = _login(client, user)
    assert _me(client, body["access_token"]) == 200

    response = post_json(client, "/auth/logout/", {"refresh_token": body["refresh_token"]})

    assert response.status_code == 204
    assert _families().get().revocation_reason == RevocationReason.LOGOUT
    assert _me(client, body["access_token"]) == 401
    assert _refresh(client, body["refresh_token"]).status_code == 400


def test_logout_all_revokes_every_family(client: Client, user: Any) -> None:
    bodies = [_login(client, user), _login(client, user)]

    response = client.post(
        "/auth/logout-all/", HTTP_AUTHORIZATION=f"Bearer {bodies[0]['access_token']}"
    )

    assert response.status_code == 204
    reasons = set(_families().values_list("revocation_reason", flat=True))
    assert reasons == {RevocationReason.LOGOUT_ALL}
    assert [_refresh(client, b["refresh_token"]).status_code for b in bodies] == [400, 400]


def test_revoke_with_an_access_token_revokes_its_family(client: Client, user: Any) -> None:
    body = _login(client, user)

    response = post_json(client, "/auth/revoke/", {"token": body["access_token"]})

    assert response.status_code == 200
    assert _families().get().revocation_reason == RevocationReason.LOGOUT


def test_sessions_are_read_from_the_routed_database(client: Client, user: Any) -> None:
    body = _login(client, user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['access_token']}"}

    listed = client.get("/auth/sessions/", **auth)
    public_id = _families().get().public_id
    deleted = client.delete(f"/auth/sessions/{public_id}/", **auth)

    assert listed.status_code == 200
    assert [session["id"] for session in listed.json()] == [public_id]
    assert deleted.status_code == 204
    assert _families().get().revocation_reason == RevocationReason.LOGOUT


def _change_password(client: Client, access_token: str) -> Any:
    return post_json(
        client,
        "/api/password/",
        {"password": "a brand new password"},
        HTTP_AUTHORIZATION=f"Bearer {access_token}",
    )


def test_a_password_change_revokes_every_family(client: Client, user: Any) -> None:
    body = _login(client, user)

    response = _change_password(client, body["access_token"])

    assert response.status_code == 204
    assert _families().get().revocation_reason == RevocationReason.PASSWORD_CHANGED
    assert _refresh(client, body["refresh_token"]).status_code == 400
    assert _me(client, body["access_token"]) == 401


def test_a_password_change_revokes_though_the_replica_never_saw_the_user(
    client: Client, user: Any
) -> None:
    body = _login(client, user)
    get_user_model().objects.using("default").filter(pk=user.pk).delete()  # signed up since

    response = _change_password(client, body["access_token"])

    assert response.status_code == 204
    assert _families().get().revocation_reason == RevocationReason.PASSWORD_CHANGED


@pytest.fixture
def issued() -> Iterator[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    signals.token_issued.connect(
        lambda sender, **kwargs: events.append(kwargs), weak=False, dispatch_uid="tests-issued"
    )
    yield events
    signals.token_issued.disconnect(dispatch_uid="tests-issued")


def _raise(**kwargs: Any) -> None:
    raise RuntimeError("a user_logged_in receiver failed")


def test_a_raising_user_logged_in_receiver_leaves_no_family(
    client: Client, user: Any, issued: list[dict[str, Any]]
) -> None:
    user_logged_in.connect(_raise, weak=False, dispatch_uid="tests-raising-login")
    try:
        with pytest.raises(RuntimeError):
            post_json(client, "/auth/login/", {"username": "alice", "password": PASSWORD})
    finally:
        user_logged_in.disconnect(dispatch_uid="tests-raising-login")

    assert not _families().exists()
    assert issued == []


def test_a_failure_after_the_rotation_rolls_it_back(
    client: Client, user: Any, monkeypatch: pytest.MonkeyPatch, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(0))  # a committed rotation: retry = reuse
    refresh_token = _login(client, user)["refresh_token"]

    def _fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("failed after the UPDATE")

    with monkeypatch.context() as patched:
        patched.setattr(_issued_tokens, "mint_tokens", _fail)
        with pytest.raises(RuntimeError):
            _refresh(client, refresh_token)

    assert _families().get().generation == 0
    assert _refresh(client, refresh_token).status_code == 200  # the client's retry


def test_a_family_read_without_its_user_gets_it_from_the_same_database(
    client: Client, user: Any
) -> None:
    _login(client, user)
    get_user_model().objects.using("default").filter(pk=user.pk).update(first_name="stale")
    family = _families().get()  # as MariaDB's locking read leaves it: no user joined

    assert _family_lookup.user_of(family).first_name == ""


def _counted(action: Callable[[], Any]) -> tuple[Any, dict[str, list[str]]]:
    """The statements that reach each database, BEGIN and COMMIT included."""
    with (
        CaptureQueriesContext(connections["default"]) as default,
        CaptureQueriesContext(connections["auth"]) as auth,
    ):
        result = action()
    return result, {
        "default": [q["sql"] for q in default.captured_queries],
        "auth": [q["sql"] for q in auth.captured_queries],
    }


def _rows(sql: list[str]) -> list[str]:
    return [s for s in sql if not s.lstrip().upper().startswith(_NOT_COUNTED)]


def _budget_run(client: Client, user: Any) -> list[dict[str, list[str]]]:
    """Login, refresh, one authenticated request, logout: their statements."""
    login, login_sql = _counted(lambda: _login(client, user))
    refreshed, refresh_sql = _counted(lambda: _refresh(client, login["refresh_token"]))
    body = refreshed.json()
    me, me_sql = _counted(lambda: _me(client, body["access_token"]))
    logout, logout_sql = _counted(
        lambda: post_json(client, "/auth/logout/", {"refresh_token": body["refresh_token"]})
    )
    assert (refreshed.status_code, me, logout.status_code) == (200, 200, 204)
    return [login_sql, refresh_sql, me_sql, logout_sql]


def test_the_statement_budgets_hold_and_no_family_is_read_from_the_replica(
    client: Client, user: Any
) -> None:
    runs = _budget_run(client, user)

    for sql in runs:  # the login's user lookup follows the project's router; families never
        assert [s for s in sql["default"] if "tokenauth" in s] == []
    counts = [len(_rows(sql["auth"])) + len(_rows(sql["default"])) for sql in runs]
    assert counts == [3, 2, 1, 2], runs  # as tests/test_query_budgets.py on one database


@pytest.mark.parametrize("routed", ["tests.routers.AuthRouter"], indirect=True)
def test_nothing_reaches_the_default_database(client: Client, user: Any) -> None:
    runs = _budget_run(client, user)

    assert [sql["default"] for sql in runs] == [[], [], [], []]  # not even a BEGIN


@pytest.mark.django_db(databases=["default", "auth"], transaction=True)
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda user: user.set_password("a brand new password"), id="password"),
        pytest.param(lambda user: setattr(user, "is_active", False), id="deactivated"),
    ],
)
def test_the_lazy_users_revocation_checks_never_read_a_lagging_replica(
    client: Client, settings: Any, tokenauth_settings: Any, change: Any
) -> None:
    """DESIGN §2: revocation checks read db_for_write(RefreshTokenFamily), never a lagging
    replica; in ``none`` mode the lazy user's load is the only check of pwv and is_active."""
    settings.DATABASE_ROUTERS = ["tests.routers.LaggingReplicaRouter"]
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="none")
    user_model = get_user_model()
    user = user_model.objects.create_user("alice", password=PASSWORD)  # in "auth"
    replica = user_model(**{f.attname: getattr(user, f.attname) for f in user._meta.fields})
    user_model.objects.using("default").bulk_create([replica])
    body = post_json(client, "/auth/login/", {"username": "alice", "password": PASSWORD}).json()

    change(user)
    user.save()  # on the primary; the replica has not caught up yet

    response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")

    assert response.status_code == 401, response.content
