"""Error messages a newcomer can act on (issue 11 part 6): cookie mode's refusals say what was
wrong and what to do, over HTTP, without echoing a token (or, outside DEBUG, what was seen)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from tests.conftest import post_json
from tests.factories import PASSWORD
from tokenauth.settings import get_settings

OWN = "http://testserver"
BROWSER = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_ORIGIN": OWN}
COOKIE = "__Secure-tokenauth-refresh"


def _login(client: Client, user: Any) -> Any:
    body = {"username": user.username, "password": PASSWORD}
    response = post_json(client, "/auth/login/", body, **BROWSER)
    assert response.status_code == 200, response.content
    return response


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
