"""DESIGN §3, row by row, through Django's test client.

What protected resources answer (RFC 6750 §3) is tests/test_authentication.py's, and the
statements each endpoint costs tests/test_query_budgets.py's (exact counts)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.test import Client

from tests.conftest import FORM, START, TOKEN_URLS, bearer, credentials, post_form, post_json
from tests.factories import PASSWORD, UserFactory
from tokenauth import _refresh_tokens
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db

TOKEN_FIELDS = {
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_token_expires_in",
}
SESSION_FIELDS = {
    "id",
    "created_at",
    "last_used_at",
    "expires_at",
    "user_agent",
    "ip_address",
    "current",
}
GRACE = timedelta(seconds=10)


# --- helpers ------------------------------------------------------------------------------


def family_of(refresh_token: str) -> RefreshTokenFamily:
    parsed = _refresh_tokens.parse(refresh_token)
    assert parsed is not None, "not a refresh token of ours"
    return RefreshTokenFamily.objects.get(public_id=parsed.public_id)


def assert_token_response(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == TOKEN_FIELDS
    assert body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert isinstance(body["refresh_token"], str) and body["refresh_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body["refresh_token_expires_in"], int)
    return body


def assert_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    return body


def forged_refresh_token(public_id: str | None = None, generation: int = 0) -> str:
    return f"tkrt_{public_id or 'A' * 22}.{generation}.{'B' * 43}"


# --- POST login/ --------------------------------------------------------------------------


def test_login_returns_an_rfc6749_token_response(client: Client, user: Any) -> None:
    response = post_json(client, "/auth/login/", credentials(user))

    body = assert_token_response(response)
    assert body["expires_in"] == 15 * 60
    assert body["refresh_token_expires_in"] == 7 * 24 * 3600
    me = client.get("/api/me/", **bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == {"id": user.pk, "username": user.username}


def test_login_failures_are_indistinguishable(client: Client, user: Any) -> None:
    inactive = UserFactory(is_active=False)

    wrong_password = post_json(client, "/auth/login/", credentials(user, "wrong password"))
    unknown_user = post_json(
        client, "/auth/login/", {"username": "nobody-here", "password": PASSWORD}
    )
    inactive_user = post_json(client, "/auth/login/", credentials(inactive))

    assert_error(wrong_password, 400, "invalid_grant")
    assert unknown_user.status_code == inactive_user.status_code == 400
    assert wrong_password.content == unknown_user.content == inactive_user.content
    assert not RefreshTokenFamily.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"password": PASSWORD}, id="missing-username"),
        pytest.param({"username": "user"}, id="missing-password"),
        pytest.param({}, id="empty-object"),
        pytest.param({"username": ["a"], "password": PASSWORD}, id="username-list"),
        pytest.param({"username": {"a": 1}, "password": PASSWORD}, id="username-object"),
        pytest.param({"username": True, "password": PASSWORD}, id="username-bool"),
        pytest.param({"username": None, "password": PASSWORD}, id="username-null"),
        pytest.param({"username": "a", "password": ["x"]}, id="password-list"),
        pytest.param([{"username": "a", "password": "b"}], id="json-list"),
        pytest.param("username", id="json-string"),
        pytest.param(42, id="json-number"),
    ],
)
def test_login_refuses_malformed_bodies(client: Client, user: Any, body: Any) -> None:
    assert_error(post_json(client, "/auth/login/", body), 400, "invalid_request")


@pytest.mark.parametrize(
    "raw", [b'{"username": "a",', b"{'username': 'a'}", b"", b"null", b'{"a": NaN}']
)
def test_login_refuses_malformed_json(client: Client, raw: bytes) -> None:
    response = client.post("/auth/login/", raw, content_type="application/json")

    assert_error(response, 400, "invalid_request")


def test_login_throttle_counts_every_attempt_per_ip(
    client: Client, user: Any, clock: Any, tokenauth_settings: Callable[..., None]
) -> None:
    tokenauth_settings(LOGIN_THROTTLE_RATE="3/min")
    ip = {"REMOTE_ADDR": "198.51.100.1"}

    # A success counts too: the IP limit is on attempts, not failures.
    assert_token_response(post_json(client, "/auth/login/", credentials(user), **ip))
    for name in ("first", "second"):
        wrong = {"username": name, "password": "x"}
        assert post_json(client, "/auth/login/", wrong, **ip).status_code == 400

    throttled = post_json(client, "/auth/login/", credentials(user), **ip)

    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert "error" in throttled.json()
    other_ip = post_json(client, "/auth/login/", credentials(user), REMOTE_ADDR="198.51.100.2")
    assert_token_response(other_ip)
    clock.shift(timedelta(seconds=61))
    assert_token_response(post_json(client, "/auth/login/", credentials(user), **ip))


def test_login_throttle_limits_unknown_usernames_alike(
    client: Client, clock: Any, tokenauth_settings: Callable[..., None]
) -> None:
    # DESIGN §2: whether or not the user exists (no enumeration): past 10 x N failures across
    # networks, a network that has failed for the name is throttled.
    tokenauth_settings(LOGIN_THROTTLE_RATE="2/min")
    ghost = {"username": "ghost", "password": "x"}
    for index in range(20):
        response = post_json(client, "/auth/login/", ghost, REMOTE_ADDR=f"192.0.{index}.1")
        assert response.status_code == 400

    throttled = post_json(client, "/auth/login/", ghost, REMOTE_ADDR="192.0.0.1")

    assert throttled.status_code == 429
    assert "Retry-After" in throttled


def test_login_throttle_ignores_successes_per_username(
    client: Client, user: Any, clock: Any, tokenauth_settings: Callable[..., None]
) -> None:
    tokenauth_settings(LOGIN_THROTTLE_RATE="3/min")
    for index in range(5):
        response = post_json(
            client, "/auth/login/", credentials(user), REMOTE_ADDR=f"192.0.2.{index + 1}"
        )
        assert_token_response(response)


def test_login_throttle_is_not_bypassed_by_x_forwarded_for(
    client: Client, user: Any, clock: Any, tokenauth_settings: Callable[..., None]
) -> None:
    # DESIGN §2: the client IP is REMOTE_ADDR unless NUM_PROXIES is set; a client that
    # invents X-Forwarded-For values must not get a fresh per-IP budget each time.
    tokenauth_settings(LOGIN_THROTTLE_RATE="3/min")
    for index in range(3):
        response = post_json(
            client,
            "/auth/login/",
            {"username": f"name{index}", "password": "x"},
            REMOTE_ADDR="198.51.100.9",
            HTTP_X_FORWARDED_FOR=f"10.9.9.{index}",
        )
        assert response.status_code == 400

    throttled = post_json(
        client,
        "/auth/login/",
        credentials(user),
        REMOTE_ADDR="198.51.100.9",
        HTTP_X_FORWARDED_FOR="10.9.9.200",
    )

    assert throttled.status_code == 429


def test_login_get_is_405_with_an_error_body(client: Client) -> None:
    assert_error(client.get("/auth/login/"), 405, "invalid_request")


# --- bodies and content types -------------------------------------------------------------


@pytest.mark.parametrize("url", TOKEN_URLS)
def test_bodies_over_16kb_are_413_before_parsing(client: Client, url: str) -> None:
    response = client.post(url, b"{" * (16 * 1024 + 1), content_type="application/json")

    assert_error(response, 413, "invalid_request")


@pytest.mark.parametrize("url", TOKEN_URLS)
def test_a_2mb_body_is_413(client: Client, url: str) -> None:
    body = b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'"}'

    response = client.post(url, body, content_type="application/json")

    assert response.status_code == 413
    assert "error" in response.json()


def test_a_form_body_over_16kb_is_413(client: Client) -> None:
    body = urlencode({"grant_type": "password", "username": "a" * 20_000, "password": "x"})

    assert_error(client.post("/auth/token/", body, content_type=FORM), 413, "invalid_request")


def test_a_body_of_exactly_16kb_is_parsed(client: Client, user: Any) -> None:
    prefix = f'{{"username": "{user.username}", "password": "wrong", "pad": "'.encode()
    body = prefix + b"a" * (16 * 1024 - len(prefix) - 2) + b'"}'
    assert len(body) == 16 * 1024

    response = client.post("/auth/login/", body, content_type="application/json")

    assert_error(response, 400, "invalid_grant")


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_unsupported_content_types_get_an_error_body(
    client: Client, url: str, content_type: str
) -> None:
    response = client.post(url, '{"refresh_token": "x"}', content_type=content_type)

    assert 400 <= response.status_code < 500
    assert "error" in response.json()


@pytest.mark.parametrize("url", TOKEN_URLS)
def test_multipart_bodies_get_an_error_body(client: Client, url: str) -> None:
    response = client.post(url, {"username": "a", "password": "b", "grant_type": "password"})

    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_login_accepts_json_only(client: Client, user: Any) -> None:
    response = post_form(client, "/auth/login/", credentials(user))

    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_login_answers_json_to_a_client_that_accepts_html(client: Client, user: Any) -> None:
    response = post_json(client, "/auth/login/", credentials(user), HTTP_ACCEPT="text/html")

    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("url", "body", "error"),
    [
        ("/auth/login/", {"username": "nobody", "password": "wrong"}, "invalid_grant"),
        ("/auth/login/", {"password": "no username"}, "invalid_request"),
        ("/auth/refresh/", {"refresh_token": "tkrt_garbage"}, "invalid_grant"),
    ],
)
def test_token_endpoint_errors_stay_rfc_shaped_for_a_client_that_accepts_html(
    client: Client, db: None, url: str, body: dict[str, str], error: str
) -> None:
    response = post_json(client, url, body, HTTP_ACCEPT="text/html")

    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"error", "error_description"}
    assert response.json()["error"] == error


# --- POST refresh/ ------------------------------------------------------------------------


def test_refresh_returns_a_new_refresh_token_each_time(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    seen = [login(user)["refresh_token"]]
    for _ in range(3):
        clock.shift(timedelta(minutes=1))
        body = assert_token_response(
            post_json(client, "/auth/refresh/", {"refresh_token": seen[-1]})
        )
        seen.append(body["refresh_token"])
        assert client.get("/api/me/", **bearer(body["access_token"])).status_code == 200

    assert len(set(seen)) == len(seen)


def test_refresh_token_expires_in_is_capped_by_the_absolute_expiry(
    client: Client,
    user: Any,
    login: Callable[..., dict[str, Any]],
    clock: Any,
    tokenauth_settings: Callable[..., None],
) -> None:
    tokenauth_settings(
        REFRESH_TOKEN_IDLE_LIFETIME=timedelta(days=7),
        REFRESH_TOKEN_ABSOLUTE_LIFETIME=timedelta(days=10),
    )
    refresh_token = login(user)["refresh_token"]
    clock.shift(timedelta(days=6))

    body = assert_token_response(
        post_json(client, "/auth/refresh/", {"refresh_token": refresh_token})
    )

    assert body["refresh_token_expires_in"] == 4 * 24 * 3600
    clock.shift(timedelta(days=4, seconds=1))
    expired = post_json(client, "/auth/refresh/", {"refresh_token": body["refresh_token"]})
    assert_error(expired, 400, "invalid_grant")


@pytest.mark.parametrize(
    "refresh_token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param(forged_refresh_token(), id="unknown-family"),
        pytest.param("tkrt_" + "A" * 22 + ".99999999999.x", id="bad-shape"),
        pytest.param("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", id="a-jwt"),
    ],
)
def test_refresh_refuses_unknown_tokens(client: Client, user: Any, refresh_token: str) -> None:
    response = post_json(client, "/auth/refresh/", {"refresh_token": refresh_token})

    assert_error(response, 400, "invalid_grant")


def test_refresh_refuses_a_forged_mac_and_revokes_nothing(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    refresh_token = login(user)["refresh_token"]
    family = family_of(refresh_token)

    for generation in (0, 1, 7):
        forged = forged_refresh_token(family.public_id, generation)
        response = post_json(client, "/auth/refresh/", {"refresh_token": forged})
        assert_error(response, 400, "invalid_grant")

    family.refresh_from_db()
    assert family.revoked_at is None
    assert_token_response(post_json(client, "/auth/refresh/", {"refresh_token": refresh_token}))


def test_refresh_refuses_an_idle_expired_token(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    refresh_token = login(user)["refresh_token"]
    clock.shift(timedelta(days=7, seconds=1))

    response = post_json(client, "/auth/refresh/", {"refresh_token": refresh_token})

    assert_error(response, 400, "invalid_grant")


def test_refresh_refuses_a_revoked_token(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    refresh_token = login(user)["refresh_token"]
    assert post_json(client, "/auth/logout/", {"refresh_token": refresh_token}).status_code == 204

    response = post_json(client, "/auth/refresh/", {"refresh_token": refresh_token})

    assert_error(response, 400, "invalid_grant")


def test_refresh_reuse_is_invalid_grant_and_revokes_the_family(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    first = login(user)["refresh_token"]
    refreshed = post_json(client, "/auth/refresh/", {"refresh_token": first})
    second = assert_token_response(refreshed)["refresh_token"]
    clock.shift(GRACE + timedelta(seconds=1))

    reused = post_json(client, "/auth/refresh/", {"refresh_token": first})

    assert_error(reused, 400, "invalid_grant")
    assert family_of(first).revocation_reason == "reuse_detected"
    assert_error(
        post_json(client, "/auth/refresh/", {"refresh_token": second}), 400, "invalid_grant"
    )


def test_refresh_errors_are_indistinguishable(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    revoked = login(user)["refresh_token"]
    post_json(client, "/auth/logout/", {"refresh_token": revoked})
    spent = login(user)["refresh_token"]
    post_json(client, "/auth/refresh/", {"refresh_token": spent})
    expired = login(user)["refresh_token"]
    clock.shift(GRACE + timedelta(seconds=1))
    reused = post_json(client, "/auth/refresh/", {"refresh_token": spent})
    clock.shift(timedelta(days=8))

    bodies = {
        post_json(client, "/auth/refresh/", {"refresh_token": token}).content
        for token in ("garbage", forged_refresh_token(), revoked, expired)
    }

    assert bodies == {reused.content}


def test_refresh_without_a_token_is_invalid_request(client: Client) -> None:
    assert_error(post_json(client, "/auth/refresh/", {}), 400, "invalid_request")


# --- POST token/ (RFC 6749) ---------------------------------------------------------------


def test_token_password_grant_form_encoded(client: Client, user: Any) -> None:
    data = {"grant_type": "password", "client_id": "some-app", **credentials(user)}

    body = assert_token_response(post_form(client, "/auth/token/", data))

    assert client.get("/api/me/", **bearer(body["access_token"])).status_code == 200


def test_token_password_grant_json(client: Client, user: Any) -> None:
    data = {"grant_type": "password", "client_id": "ignored", **credentials(user)}

    assert_token_response(post_json(client, "/auth/token/", data))


def test_token_password_grant_with_bad_credentials(client: Client, user: Any) -> None:
    data = {"grant_type": "password", **credentials(user, "wrong")}

    assert_error(post_form(client, "/auth/token/", data), 400, "invalid_grant")


@pytest.mark.parametrize("send", [post_form, post_json], ids=["form", "json"])
def test_token_refresh_token_grant(
    client: Client,
    user: Any,
    login: Callable[..., dict[str, Any]],
    send: Callable[..., Any],
) -> None:
    refresh_token = login(user)["refresh_token"]
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "x"}

    body = assert_token_response(send(client, "/auth/token/", data))

    assert body["refresh_token"] != refresh_token
    again = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    assert_token_response(send(client, "/auth/token/", again))


def test_token_refresh_token_grant_with_a_bad_token(client: Client) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": forged_refresh_token()}

    assert_error(post_form(client, "/auth/token/", data), 400, "invalid_grant")


@pytest.mark.parametrize("send", [post_form, post_json], ids=["form", "json"])
@pytest.mark.parametrize(
    "grant_type", ["authorization_code", "client_credentials", "PASSWORD", "urn:x:y"]
)
def test_token_unknown_grant_type(
    client: Client, user: Any, send: Callable[..., Any], grant_type: str
) -> None:
    data = {"grant_type": grant_type, **credentials(user)}

    assert_error(send(client, "/auth/token/", data), 400, "unsupported_grant_type")


@pytest.mark.parametrize("send", [post_form, post_json], ids=["form", "json"])
def test_token_without_grant_type(client: Client, user: Any, send: Callable[..., Any]) -> None:
    assert_error(send(client, "/auth/token/", credentials(user)), 400, "invalid_request")


def test_token_password_grant_missing_password(client: Client, user: Any) -> None:
    data = {"grant_type": "password", "username": user.username}

    assert_error(post_form(client, "/auth/token/", data), 400, "invalid_request")


def test_token_refresh_grant_missing_refresh_token(client: Client) -> None:
    assert_error(
        post_form(client, "/auth/token/", {"grant_type": "refresh_token"}), 400, "invalid_request"
    )


# --- POST logout/ -------------------------------------------------------------------------


def test_logout_revokes_a_genuine_token(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    tokens = login(user)

    response = post_json(client, "/auth/logout/", {"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 204
    assert response.content == b""
    family = family_of(tokens["refresh_token"])
    assert family.revoked_at is not None
    assert family.revocation_reason == "logout"
    assert client.get("/api/me/", **bearer(tokens["access_token"])).status_code == 401


@pytest.mark.parametrize(
    "refresh_token",
    ["garbage", forged_refresh_token(), "tkrt_", "x" * 1000],
)
def test_logout_with_a_bad_token_is_204_and_revokes_nothing(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], refresh_token: str
) -> None:
    genuine = login(user)["refresh_token"]

    response = post_json(client, "/auth/logout/", {"refresh_token": refresh_token})

    assert response.status_code == 204
    assert family_of(genuine).revoked_at is None


def test_logout_with_a_forged_mac_for_a_real_family_revokes_nothing(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    genuine = login(user)["refresh_token"]
    forged = forged_refresh_token(family_of(genuine).public_id)

    assert post_json(client, "/auth/logout/", {"refresh_token": forged}).status_code == 204

    assert family_of(genuine).revoked_at is None


def test_logout_twice_is_204_both_times(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    refresh_token = login(user)["refresh_token"]
    first = post_json(client, "/auth/logout/", {"refresh_token": refresh_token})

    second = post_json(client, "/auth/logout/", {"refresh_token": refresh_token})

    assert first.status_code == second.status_code == 204
    assert first.content == second.content
    assert family_of(refresh_token).revocation_reason == "logout"


def test_logout_with_a_spent_token_outside_the_grace_window_is_reuse(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    spent = login(user)["refresh_token"]
    post_json(client, "/auth/refresh/", {"refresh_token": spent})
    clock.shift(GRACE + timedelta(seconds=1))

    response = post_json(client, "/auth/logout/", {"refresh_token": spent})

    assert response.status_code == 204
    family = family_of(spent)
    assert family.revocation_reason == "reuse_detected"
    assert family.reuse_detected_at is not None


def test_logout_with_the_preceding_token_inside_the_grace_window_is_a_logout(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    spent = login(user)["refresh_token"]
    post_json(client, "/auth/refresh/", {"refresh_token": spent})
    clock.shift(timedelta(seconds=2))

    assert post_json(client, "/auth/logout/", {"refresh_token": spent}).status_code == 204

    assert family_of(spent).revocation_reason == "logout"


@pytest.mark.parametrize(
    "raw",
    [b'{"refresh_token": ', b"[]", b'{"refresh_token": ["a"]}', b'{"refresh_token": null}'],
)
def test_logout_malformed_body_is_invalid_request(client: Client, raw: bytes) -> None:
    response = client.post("/auth/logout/", raw, content_type="application/json")

    assert_error(response, 400, "invalid_request")


def test_logout_without_a_token_is_invalid_request(client: Client) -> None:
    assert_error(post_json(client, "/auth/logout/", {}), 400, "invalid_request")


# --- POST logout-all/ ---------------------------------------------------------------------


def test_logout_all_revokes_every_family_of_the_user(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    laptop, phone = login(user), login(user)
    other = login(UserFactory())

    response = client.post("/auth/logout-all/", **bearer(laptop["access_token"]))

    assert response.status_code == 204
    for session in (laptop, phone):
        refused = client.get("/api/me/", **bearer(session["access_token"]))
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused["WWW-Authenticate"]
        refresh = post_json(client, "/auth/refresh/", {"refresh_token": session["refresh_token"]})
        assert_error(refresh, 400, "invalid_grant")
        assert family_of(session["refresh_token"]).revocation_reason == "logout_all"
    assert client.get("/api/me/", **bearer(other["access_token"])).status_code == 200
    assert family_of(other["refresh_token"]).revoked_at is None


def test_logout_all_without_a_token_is_401(client: Client) -> None:
    response = client.post("/auth/logout-all/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_logout_all_with_a_bad_token_is_401(client: Client) -> None:
    response = client.post("/auth/logout-all/", **bearer("not.a.jwt"))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


# --- POST revoke/ (RFC 7009) --------------------------------------------------------------


def test_revoke_a_refresh_token_revokes_its_family(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    tokens = login(user)

    response = post_form(client, "/auth/revoke/", {"token": tokens["refresh_token"]})

    assert response.status_code == 200
    assert family_of(tokens["refresh_token"]).revocation_reason == "logout"
    assert client.get("/api/me/", **bearer(tokens["access_token"])).status_code == 401


def test_revoke_ignores_a_wrong_token_type_hint_and_client_id(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    refresh_token = login(user)["refresh_token"]
    data = {"token": refresh_token, "token_type_hint": "access_token", "client_id": "app"}

    assert post_form(client, "/auth/revoke/", data).status_code == 200

    assert family_of(refresh_token).revoked_at is not None


def test_revoke_accepts_json(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    refresh_token = login(user)["refresh_token"]

    assert post_json(client, "/auth/revoke/", {"token": refresh_token}).status_code == 200

    assert family_of(refresh_token).revoked_at is not None


def test_revoke_a_valid_access_token_revokes_its_family(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    tokens = login(user)
    data = {"token": tokens["access_token"], "token_type_hint": "access_token"}

    assert post_form(client, "/auth/revoke/", data).status_code == 200

    assert family_of(tokens["refresh_token"]).revocation_reason == "logout"
    refresh = post_json(client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert_error(refresh, 400, "invalid_grant")


def test_revoke_an_expired_access_token_revokes_nothing(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    tokens = login(user)
    clock.shift(timedelta(minutes=15, seconds=1))

    assert post_form(client, "/auth/revoke/", {"token": tokens["access_token"]}).status_code == 200

    assert family_of(tokens["refresh_token"]).revoked_at is None
    refresh = post_json(client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert_token_response(refresh)


def test_revoke_an_access_token_with_a_bad_signature_revokes_nothing(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    tokens = login(user)
    header = jwt.get_unverified_header(tokens["access_token"])
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "x" * 64, algorithm="HS256", headers=header)

    assert post_form(client, "/auth/revoke/", {"token": forged}).status_code == 200

    assert family_of(tokens["refresh_token"]).revoked_at is None


@pytest.mark.parametrize("token", ["garbage", forged_refresh_token(), "a.b.c"])
def test_revoke_unknown_tokens_is_200(client: Client, token: str) -> None:
    assert post_form(client, "/auth/revoke/", {"token": token}).status_code == 200


@pytest.mark.parametrize(
    "data",
    [{}, {"token_type_hint": "refresh_token"}, {"token": ""}],
    ids=["empty", "hint", "blank"],
)
def test_revoke_without_a_token_is_invalid_request(client: Client, data: dict[str, str]) -> None:
    assert_error(post_form(client, "/auth/revoke/", data), 400, "invalid_request")


# --- GET sessions/ ------------------------------------------------------------------------


def test_sessions_lists_the_callers_live_families(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    old = login(user, HTTP_USER_AGENT="Old/1", REMOTE_ADDR="203.0.113.1")
    clock.shift(timedelta(days=1))
    laptop = login(user, HTTP_USER_AGENT="Laptop/2", REMOTE_ADDR="203.0.113.2")
    clock.shift(timedelta(minutes=1))
    phone = login(user, HTTP_USER_AGENT="Phone/3", REMOTE_ADDR="2001:db8::1")
    login(UserFactory(), HTTP_USER_AGENT="Someone else")
    post_json(client, "/auth/logout/", {"refresh_token": old["refresh_token"]})

    response = client.get("/auth/sessions/", **bearer(laptop["access_token"]))

    assert response.status_code == 200
    sessions = response.json()
    assert isinstance(sessions, list)
    assert all(set(session) == SESSION_FIELDS for session in sessions)
    by_agent = {session["user_agent"]: session for session in sessions}
    assert set(by_agent) == {"Laptop/2", "Phone/3"}
    assert by_agent["Laptop/2"]["current"] is True
    assert by_agent["Phone/3"]["current"] is False
    assert by_agent["Laptop/2"]["ip_address"] == "203.0.113.2"
    assert by_agent["Phone/3"]["ip_address"] == "2001:db8::1"
    assert by_agent["Laptop/2"]["id"] == family_of(laptop["refresh_token"]).public_id
    assert by_agent["Phone/3"]["id"] == family_of(phone["refresh_token"]).public_id
    laptop_session = by_agent["Laptop/2"]
    # Python 3.10's fromisoformat() does not read the "Z" that DRF writes for UTC.
    created_at = datetime.fromisoformat(laptop_session["created_at"].replace("Z", "+00:00"))
    assert created_at == START + timedelta(days=1)
    assert (
        datetime.fromisoformat(laptop_session["last_used_at"].replace("Z", "+00:00")) == created_at
    )
    expires_at = datetime.fromisoformat(laptop_session["expires_at"].replace("Z", "+00:00"))
    assert expires_at == created_at + timedelta(days=7)


def test_sessions_omit_expired_families(
    client: Client, user: Any, login: Callable[..., dict[str, Any]], clock: Any
) -> None:
    login(user, HTTP_USER_AGENT="Stale")
    clock.shift(timedelta(days=6))
    fresh = login(user, HTTP_USER_AGENT="Fresh")
    clock.shift(timedelta(days=1, seconds=1))

    refreshed = post_json(client, "/auth/refresh/", {"refresh_token": fresh["refresh_token"]})

    response = client.get(
        "/auth/sessions/", **bearer(assert_token_response(refreshed)["access_token"])
    )

    assert response.status_code == 200
    assert [session["user_agent"] for session in response.json()] == ["Fresh"]


def test_sessions_current_follows_the_family_after_refresh(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    tokens = login(user)
    login(user)
    refreshed = assert_token_response(
        post_json(client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})
    )

    sessions = client.get("/auth/sessions/", **bearer(refreshed["access_token"])).json()

    current = [session["id"] for session in sessions if session["current"]]
    assert current == [family_of(tokens["refresh_token"]).public_id]


def test_sessions_without_a_token_is_401(client: Client) -> None:
    assert client.get("/auth/sessions/").status_code == 401


# --- DELETE sessions/<id>/ ----------------------------------------------------------------


def test_delete_own_session_revokes_it(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    current, other_device = login(user), login(user)
    public_id = family_of(other_device["refresh_token"]).public_id

    response = client.delete(f"/auth/sessions/{public_id}/", **bearer(current["access_token"]))

    assert response.status_code == 204
    assert family_of(other_device["refresh_token"]).revocation_reason == "logout"
    assert client.get("/api/me/", **bearer(other_device["access_token"])).status_code == 401
    sessions = client.get("/auth/sessions/", **bearer(current["access_token"])).json()
    assert [session["id"] for session in sessions] == [
        family_of(current["refresh_token"]).public_id
    ]


def test_delete_session_404s_are_identical(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    mine = login(user)
    theirs = login(UserFactory())
    revoked = login(user)
    post_json(client, "/auth/logout/", {"refresh_token": revoked["refresh_token"]})
    their_id = family_of(theirs["refresh_token"]).public_id
    ids = [their_id, "A" * 22, family_of(revoked["refresh_token"]).public_id]

    responses = [
        client.delete(f"/auth/sessions/{public_id}/", **bearer(mine["access_token"]))
        for public_id in ids
    ]

    assert [response.status_code for response in responses] == [404, 404, 404]
    assert len({response.content for response in responses}) == 1
    assert family_of(theirs["refresh_token"]).revoked_at is None
    assert client.get("/api/me/", **bearer(theirs["access_token"])).status_code == 200


def test_delete_session_without_a_token_is_401(
    client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    refresh_token = login(user)["refresh_token"]

    response = client.delete(f"/auth/sessions/{family_of(refresh_token).public_id}/")

    assert response.status_code == 401
    assert family_of(refresh_token).revoked_at is None


# --- GET jwks.json ------------------------------------------------------------------------


def test_jwks_is_an_empty_key_set_for_hs256(client: Client) -> None:
    response = client.get("/auth/jwks.json")

    assert response.status_code == 200
    assert response.json() == {"keys": []}
