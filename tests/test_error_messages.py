"""Error messages a newcomer can act on (issue 11 part 6): cookie mode's refusals say what was
wrong and what to do, over HTTP, without echoing a token (or, outside DEBUG, what was seen)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from tests.conftest import post_json
from tests.factories import PASSWORD
from tokenauth.models import RefreshTokenFamily
from tokenauth.settings import get_settings

OWN = "http://testserver"
BROWSER = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_ORIGIN": OWN}
COOKIE = "__Secure-tokenauth-refresh"


def _login(client: Client, user: Any) -> Any:
    body = {"username": user.username, "password": PASSWORD}
    response = post_json(client, "/auth/login/", body, **BROWSER)
    assert response.status_code == 200, response.content
    return response


def _description(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    return str(body["error_description"])


# --- a refresh with no refresh token at all -------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "name"),
    [({}, COOKIE), ({"name": "shop_refresh"}, "shop_refresh")],
    ids=["default name", "configured name"],
)
def test_a_cookie_mode_refresh_with_no_token_names_the_body_field_and_the_cookie(
    client: Client, tokenauth_settings: Any, cookie: dict[str, Any], name: str
) -> None:
    tokenauth_settings(REFRESH_COOKIE=cookie)

    response = post_json(client, "/auth/refresh/", {}, **BROWSER)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    description = _description(response)
    assert "This field is required" not in description
    assert "refresh_token" in description
    assert f"cookie {name!r}" in description
    assert "log in" in description.lower()


def test_a_refresh_with_no_token_outside_cookie_mode_still_names_the_field(
    client: Client,
) -> None:
    response = post_json(client, "/auth/refresh/", {})

    assert response.status_code == 400
    assert _description(response) == "refresh_token: This field is required."


def test_a_cookie_mode_logout_with_no_token_stays_a_quiet_204(
    client: Client, tokenauth_settings: Any
) -> None:
    # Logging out twice (or after another tab did) is done, not an error: the browser client
    # treats a 4xx from logout/ as a failed logout.
    tokenauth_settings(REFRESH_COOKIE={})

    response = post_json(client, "/auth/logout/", {}, **BROWSER)

    assert response.status_code == 204
    assert not response.cookies


# --- which CSRF condition failed ------------------------------------------------------------

# (content type, headers, what the description must name)
_REFUSALS = {
    "form post": ("application/x-www-form-urlencoded", BROWSER, "Content-Type"),
    "text/plain": ("text/plain", BROWSER, "Content-Type"),
    "no custom header": ("application/json", {"HTTP_ORIGIN": OWN}, "X-Requested-With"),
    "wrong custom header": (
        "application/json",
        {**BROWSER, "HTTP_X_REQUESTED_WITH": "fetch"},
        "X-Requested-With",
    ),
    "no origin": ("application/json", {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}, "Referer"),
    "null origin": ("application/json", {**BROWSER, "HTTP_ORIGIN": "null"}, "Origin 'null'"),
    "foreign origin": (
        "application/json",
        {**BROWSER, "HTTP_ORIGIN": "https://evil.example"},
        "CSRF_TRUSTED_ORIGINS",
    ),
    "foreign referer": (
        "application/json",
        {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_REFERER": "https://evil.example/a"},
        "CSRF_TRUSTED_ORIGINS",
    ),
}
# Each condition's words (any case); a description names its own condition and no other's.
_WORDS = {
    "Content-Type": {"Content-Type", "application/json", "JSON"},
    "X-Requested-With": {"X-Requested-With", "XMLHttpRequest"},
    "Referer": {"Referer"},
    "Origin 'null'": {"Origin 'null'"},
    "CSRF_TRUSTED_ORIGINS": {"CSRF_TRUSTED_ORIGINS"},
}


@pytest.mark.parametrize("case", list(_REFUSALS))
def test_a_csrf_refusal_of_a_cookie_refresh_names_the_condition_that_failed(
    client: Client, user: Any, tokenauth_settings: Any, case: str
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    _login(client, user)
    before = RefreshTokenFamily.objects.values().get()
    content_type, headers, named = _REFUSALS[case]

    response = client.post("/auth/refresh/", "{}", content_type=content_type, **headers)

    assert response.status_code == 403, response.content
    assert response.json()["error"] == "invalid_request"
    description = _description(response)
    said = description.lower()
    assert all(word.lower() in said for word in _WORDS[named]), description
    others = set().union(*(words for key, words in _WORDS.items() if key != named))
    assert not [word for word in others if word.lower() in said], description
    assert COOKIE not in response.cookies
    assert RefreshTokenFamily.objects.values().get() == before


@pytest.mark.parametrize("case", ["text/plain", "no custom header", "foreign origin"])
def test_a_csrf_refusal_of_a_cookie_mode_login_names_the_condition_too(
    client: Client, user: Any, tokenauth_settings: Any, case: str
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    content_type, headers, named = _REFUSALS[case]
    body = f'{{"username": "{user.username}", "password": "{PASSWORD}"}}'

    response = client.post("/auth/login/", body, content_type=content_type, **headers)

    assert response.status_code == 403, response.content
    assert named in _description(response)
    assert not RefreshTokenFamily.objects.exists()


def test_outside_debug_a_refused_origin_is_not_echoed_nor_the_trusted_list(
    client: Client, user: Any, tokenauth_settings: Any, settings: Any
) -> None:
    settings.DEBUG = False
    settings.CSRF_TRUSTED_ORIGINS = ["https://trusted.example"]
    tokenauth_settings(REFRESH_COOKIE={})
    _login(client, user)

    response = post_json(
        client, "/auth/refresh/", {}, **{**BROWSER, "HTTP_ORIGIN": "https://evil.example"}
    )

    assert response.status_code == 403
    description = _description(response)
    assert "CSRF_TRUSTED_ORIGINS" in description  # the condition, by name
    assert "evil.example" not in description
    assert "trusted.example" not in description
    assert "testserver" not in description


def test_in_debug_a_refused_origin_shows_what_was_seen_and_what_it_was_compared_with(
    client: Client, user: Any, tokenauth_settings: Any, settings: Any
) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://trusted.example"]
    tokenauth_settings(REFRESH_COOKIE={})
    _login(client, user)
    settings.DEBUG = True

    response = post_json(
        client, "/auth/refresh/", {}, **{**BROWSER, "HTTP_ORIGIN": "https://evil.example"}
    )

    assert response.status_code == 403
    description = _description(response)
    assert "Origin 'https://evil.example'" in description
    assert "'https://trusted.example'" in description
    assert f"'{OWN}'" in description  # the request's own origin, which would have passed


def test_in_debug_a_referer_is_shown_as_its_origin_only(
    client: Client, user: Any, tokenauth_settings: Any, settings: Any
) -> None:
    # A Referer's path and query can carry secrets (a reset link's token): only its origin.
    tokenauth_settings(REFRESH_COOKIE={})
    _login(client, user)
    settings.DEBUG = True
    headers = {
        "HTTP_X_REQUESTED_WITH": "XMLHttpRequest",
        "HTTP_REFERER": "https://evil.example/reset/?token=s3cr3t",
    }

    response = post_json(client, "/auth/refresh/", {}, **headers)

    assert response.status_code == 403
    description = _description(response)
    assert "'https://evil.example'" in description
    assert "s3cr3t" not in description
    assert "/reset/" not in description


def test_in_debug_a_content_type_refusal_does_not_echo_the_cookie(
    client: Client, user: Any, tokenauth_settings: Any, settings: Any
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    refresh_token = _login(client, user).cookies[COOKIE].value
    settings.DEBUG = True

    response = client.post("/auth/refresh/", "x=1", content_type="text/plain", **BROWSER)

    assert response.status_code == 403
    assert refresh_token not in response.content.decode()


def test_a_csrf_refusal_is_logged_with_the_origin_escaped(
    client: Client, user: Any, tokenauth_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    refresh_token = _login(client, user).cookies[COOKIE].value
    forged = "https://evil.example\n[tokenauth] all is well"

    with caplog.at_level(logging.DEBUG, logger="tokenauth"):
        response = post_json(client, "/auth/refresh/", {}, **{**BROWSER, "HTTP_ORIGIN": forged})

    assert response.status_code == 403
    lines = [r.getMessage() for r in caplog.records if r.name == "tokenauth.cookies"]
    assert len(lines) == 1, lines
    assert "CSRF_TRUSTED_ORIGINS" in lines[0]
    assert repr(forged) in lines[0]
    assert "\n" not in lines[0]
    assert refresh_token not in lines[0]


# --- SameSite in any case -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "canonical"),
    [
        ("lax", "Lax"),
        ("Lax", "Lax"),
        ("LAX", "Lax"),
        ("strict", "Strict"),
        ("sTrIcT", "Strict"),
        ("none", "None"),
    ],
)
def test_samesite_is_accepted_in_any_case_and_sent_in_its_canonical_spelling(
    client: Client, user: Any, tokenauth_settings: Any, configured: str, canonical: str
) -> None:
    tokenauth_settings(REFRESH_COOKIE={"samesite": configured})

    response = _login(client, user)

    assert response.cookies[COOKIE]["samesite"] == canonical
    assert f"SameSite={canonical}" in response.cookies.output()
    logout = post_json(client, "/auth/logout/", {}, **BROWSER)
    assert f"SameSite={canonical}" in logout.cookies.output()


@pytest.mark.parametrize("configured", ["sometimes", "", "laxx", 1, None])
def test_a_bad_samesite_is_still_refused_loudly(
    tokenauth_settings: Any, configured: object
) -> None:
    tokenauth_settings(REFRESH_COOKIE={"samesite": configured})

    with pytest.raises(ImproperlyConfigured, match=r"samesite.*tokenauth\.E007"):
        get_settings()
    with pytest.raises(SystemCheckError, match="'Strict', 'Lax' or 'None' \\(any case\\)"):
        call_command("check")
