"""Cookie mode (DESIGN §3): the refresh token in an HttpOnly cookie, guarded by a CSRF rule."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from tests.conftest import BROWSER, COOKIE, post_json
from tests.factories import PASSWORD
from tokenauth.checks import check_settings
from tokenauth.models import RefreshTokenFamily, RevocationReason


@pytest.fixture(autouse=True)
def cookie_mode(tokenauth_settings: Any) -> None:
    tokenauth_settings(REFRESH_COOKIE={})


def browser_login(client: Client, user: Any, **extra: Any) -> Any:
    body = {"username": user.username, "password": PASSWORD}
    return post_json(client, "/auth/login/", body, **{**BROWSER, **extra})


def test_login_sets_a_hardened_cookie_and_leaves_the_token_out_of_the_body(client, user):
    response = browser_login(client, user)

    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token_expires_in"}
    cookie = response.cookies[COOKIE]
    assert cookie.value.startswith("tkrt_")
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/auth/"
    assert int(cookie["max-age"]) == body["refresh_token_expires_in"]


def test_refresh_with_the_cookie_rotates_it(client, user):
    first = browser_login(client, user).cookies[COOKIE].value

    response = post_json(client, "/auth/refresh/", {}, **BROWSER)

    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    second = response.cookies[COOKIE].value
    assert second != first
    assert RefreshTokenFamily.objects.get().generation == 1


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        ("application/x-www-form-urlencoded", BROWSER),  # a cross-site form post
        ("text/plain", BROWSER),  # a "simple" request: no preflight
        ("application/json", {"HTTP_ORIGIN": "http://testserver"}),  # no custom header
        ("application/json", {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}),  # no origin at all
        ("application/json", {**BROWSER, "HTTP_ORIGIN": "https://evil.example"}),
        ("application/json", {**BROWSER, "HTTP_ORIGIN": "null"}),
        ("application/json", {**BROWSER, "HTTP_ORIGIN": "http://[::1"}),  # malformed
    ],
)
def test_a_cookie_refresh_without_csrf_proof_is_403_and_changes_nothing(
    client, user, content_type, headers
):
    browser_login(client, user)
    before = RefreshTokenFamily.objects.values().get()

    response = client.post("/auth/refresh/", "{}", content_type=content_type, **headers)

    assert response.status_code == 403
    assert response.json()["error"] == "invalid_request"
    assert COOKIE not in response.cookies
    assert RefreshTokenFamily.objects.values().get() == before


def test_referer_stands_in_for_a_missing_origin(client, user):
    browser_login(client, user)
    headers = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_REFERER": "http://testserver/app"}

    assert post_json(client, "/auth/refresh/", {}, **headers).status_code == 200
    headers["HTTP_REFERER"] = "http://evil.example/app"
    assert post_json(client, "/auth/refresh/", {}, **headers).status_code == 403


def test_trusted_origins_with_wildcards_are_allowed(client, user, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]
    browser_login(client, user)

    ok = post_json(
        client, "/auth/refresh/", {}, **{**BROWSER, "HTTP_ORIGIN": "https://app.example.com"}
    )
    assert ok.status_code == 200
    other = post_json(
        client, "/auth/refresh/", {}, **{**BROWSER, "HTTP_ORIGIN": "https://example.com.evil.net"}
    )
    assert other.status_code == 403


def test_login_in_cookie_mode_needs_csrf_proof(client, user):
    body = {"username": user.username, "password": PASSWORD}

    response = post_json(client, "/auth/login/", body, HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 403
    assert COOKIE not in response.cookies
    assert not RefreshTokenFamily.objects.exists()


def test_a_token_in_the_body_needs_no_csrf_proof_and_wins_over_the_cookie(client, user):
    browser_login(client, user)
    cookie_token = client.cookies[COOKIE].value
    other = Client()
    other_login = browser_login(other, user)
    body_token = other_login.cookies[COOKIE].value

    response = post_json(client, "/auth/refresh/", {"refresh_token": body_token})

    assert response.status_code == 200
    families = {f.public_id: f.generation for f in RefreshTokenFamily.objects.all()}
    body_family = body_token.removeprefix("tkrt_").split(".")[0]
    cookie_family = cookie_token.removeprefix("tkrt_").split(".")[0]
    assert families == {body_family: 1, cookie_family: 0}


def test_logout_revokes_the_cookie_family_and_clears_the_cookie(client, user):
    browser_login(client, user)

    response = post_json(client, "/auth/logout/", {}, **BROWSER)

    assert response.status_code == 204
    cleared = response.cookies[COOKIE]
    assert cleared.value == ""
    assert int(cleared["max-age"]) == 0
    assert cleared["path"] == "/auth/"
    family = RefreshTokenFamily.objects.get()
    assert family.revocation_reason == RevocationReason.LOGOUT


def test_logout_without_csrf_proof_keeps_the_session(client, user):
    browser_login(client, user)

    response = client.post(
        "/auth/logout/", "refresh_token=", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 403
    assert COOKIE not in response.cookies
    assert RefreshTokenFamily.objects.get().revoked_at is None


def test_token_and_revoke_endpoints_ignore_cookie_mode(client, user):
    response = client.post(
        "/auth/token/",
        f"grant_type=password&username={user.username}&password={PASSWORD.replace(' ', '+')}",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert response.json()["refresh_token"].startswith("tkrt_")
    assert COOKIE not in response.cookies


def test_insecure_cookie_drops_the_secure_prefix(client, user, settings, tokenauth_settings):
    settings.DEBUG = True  # else E009 refuses it
    tokenauth_settings(REFRESH_COOKIE={"secure": False, "samesite": "Lax", "path": "/"})

    response = browser_login(client, user)

    cookie = response.cookies["tokenauth-refresh"]
    assert cookie["secure"] == ""
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"


def test_a_body_token_in_cookie_mode_gets_its_successor_in_the_body(client, user):
    # A native app in a cookie-mode deployment: it holds its token, not a cookie.
    issued = client.post(
        "/auth/token/",
        f"grant_type=password&username={user.username}&password={PASSWORD.replace(' ', '+')}",
        content_type="application/x-www-form-urlencoded",
    ).json()

    first = post_json(client, "/auth/refresh/", {"refresh_token": issued["refresh_token"]})
    second = post_json(client, "/auth/refresh/", {"refresh_token": first.json()["refresh_token"]})

    assert first.status_code == second.status_code == 200
    assert COOKIE not in first.cookies
    assert RefreshTokenFamily.objects.get().generation == 2
    assert RefreshTokenFamily.objects.get().revoked_at is None


def test_a_body_token_logout_leaves_the_cookie_session_alone(client, user):
    browser_login(client, user)
    other = Client()
    token = other.post(
        "/auth/token/",
        f"grant_type=password&username={user.username}&password={PASSWORD.replace(' ', '+')}",
        content_type="application/x-www-form-urlencoded",
    ).json()["refresh_token"]

    response = post_json(client, "/auth/logout/", {"refresh_token": token})

    assert response.status_code == 204
    assert COOKIE not in response.cookies
    live = RefreshTokenFamily.objects.filter(revoked_at__isnull=True)
    assert live.count() == 1
    assert post_json(client, "/auth/refresh/", {}, **BROWSER).status_code == 200


@pytest.mark.parametrize(
    "cookie",
    [
        {"name": 123},
        {"name": "a b;c"},
        {"path": 5},
        {"path": "auth"},
        {"domain": "evil.com; Path=/"},
        {"secure": "yes"},
        {"samesite": "None", "secure": False},
        {"name": "__Secure-x", "secure": False},
        {"name": "__Host-x"},  # the default path is the mount prefix, not "/"
        {"name": "__Host-x", "path": "/", "domain": "example.com"},
    ],
)
def test_cookie_settings_browsers_would_drop_are_check_errors(settings, cookie):
    settings.TOKENAUTH = {**settings.TOKENAUTH, "REFRESH_COOKIE": cookie}

    assert "tokenauth.E007" in {message.id for message in check_settings()}


def test_a_bad_cookie_name_refuses_to_run_instead_of_using_the_default(client, user, settings):
    settings.TOKENAUTH = {**settings.TOKENAUTH, "REFRESH_COOKIE": {"name": "a b;c"}}

    with pytest.raises(ImproperlyConfigured, match=r"REFRESH_COOKIE.*'name'.*tokenauth\.E007"):
        browser_login(client, user)
    assert not RefreshTokenFamily.objects.exists()


def test_valid_cookie_settings_pass_the_checks(settings):
    settings.TOKENAUTH = {
        **settings.TOKENAUTH,
        "REFRESH_COOKIE": {"name": "__Host-refresh", "path": "/", "samesite": "Lax"},
    }

    assert not [m for m in check_settings() if m.id == "tokenauth.E007"]


# --- logout clears the cookie only for a request that carried a token ---------------------


@pytest.mark.parametrize("body", ["", "{}", "refresh_token="])
def test_cookie_mode_logout_from_a_foreign_page_sets_no_cookie(
    client: Client, user: Any, tokenauth_settings: Any, body: str
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    post_json(client, "/auth/login/", {"username": user.username, "password": PASSWORD}, **BROWSER)
    before = RefreshTokenFamily.objects.values().get()
    stranger = Client()  # the victim's browser sends no cookie to the attacker's request

    response = stranger.post(
        "/auth/logout/",
        body,
        content_type="text/plain",
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code < 500, response.content
    assert not response.cookies, response.cookies.output()
    assert not response.has_header("Set-Cookie")
    assert RefreshTokenFamily.objects.values().get() == before


def test_cookie_mode_logout_with_the_cookie_and_csrf_proof_clears_it(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    body = {"username": user.username, "password": PASSWORD}
    assert post_json(client, "/auth/login/", body, **BROWSER).status_code == 200
    assert client.cookies[COOKIE].value

    response = post_json(client, "/auth/logout/", {}, **BROWSER)

    assert response.status_code == 204, response.content
    cookie = response.cookies[COOKIE]
    assert cookie.value == ""
    assert str(cookie["max-age"]) == "0"
    assert cookie["path"] == "/auth/"
    family = RefreshTokenFamily.objects.get(user=user)
    assert family.revocation_reason == RevocationReason.LOGOUT
