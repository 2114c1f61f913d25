"""Cookie tossing (DESIGN §3 cookie mode): a request that would use the refresh cookie while
carrying its name twice is refused and changes nothing, whichever of the two is genuine."""

from __future__ import annotations

from typing import Any

import pytest
from django.http.cookie import parse_cookie
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BROWSER, COOKIE, post_json
from tests.factories import PASSWORD, UserFactory
from tokenauth import service
from tokenauth.cookies import _occurrences
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cookie_mode(tokenauth_settings: Any) -> None:
    tokenauth_settings(REFRESH_COOKIE={})


def _browser_login(user: Any) -> str:
    """Log ``user`` in from a fresh browser; returns the refresh cookie's value."""
    body = {"username": user.username, "password": PASSWORD}
    response = post_json(Client(), "/auth/login/", body, **BROWSER)
    assert response.status_code == 200
    return str(response.cookies[COOKIE].value)


def _families() -> list[dict[str, Any]]:
    return list(RefreshTokenFamily.objects.order_by("pk").values())


@pytest.fixture
def victim_and_attacker(user: Any) -> tuple[str, str]:
    return _browser_login(user), _browser_login(UserFactory())


@pytest.mark.parametrize("endpoint", ["/auth/refresh/", "/auth/logout/"])
@pytest.mark.parametrize("attacker_first", [True, False], ids=["tossed-first", "tossed-last"])
def test_two_refresh_cookies_are_refused_and_change_nothing(
    client: Client, victim_and_attacker: tuple[str, str], endpoint: str, attacker_first: bool
) -> None:
    victim, attacker = victim_and_attacker
    pair = [attacker, victim] if attacker_first else [victim, attacker]
    header = "; ".join(f"{COOKIE}={value}" for value in pair)
    before = _families()

    response = post_json(client, endpoint, {}, HTTP_COOKIE=header, **BROWSER)

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "invalid_request"
    assert "refresh cookie more than once" in body["error_description"]
    assert not response.cookies  # no Set-Cookie at all
    assert response.headers["Cache-Control"] == "no-store"
    assert _families() == before  # not rotated, not revoked, either family


@pytest.mark.parametrize(
    "header",
    [
        "{c}=a; {c}=b; {c}=c",
        "{c}=; {c}={v}",  # an empty one still competes
        "{c}={v}; {c}=",  # and Django would have read the empty one: no cookie at all
        " {c} = x ;{c}={v}",  # Django strips whitespace around the name
        "other=1; {c}={v}; theme=dark; {c}={v}",  # even the same value twice
    ],
)
def test_every_way_of_sending_the_name_twice_is_refused(
    client: Client, victim_and_attacker: tuple[str, str], header: str
) -> None:
    victim, _ = victim_and_attacker
    before = _families()

    for endpoint in ("/auth/refresh/", "/auth/logout/"):
        cookie = header.format(c=COOKIE, v=victim)
        response = post_json(client, endpoint, {}, HTTP_COOKIE=cookie, **BROWSER)
        assert response.status_code == 400, endpoint
        assert response.json()["error"] == "invalid_request"
        assert not response.cookies

    assert _families() == before


@pytest.mark.parametrize(
    "header",
    [
        "{c}={v}",
        "theme=dark; {c}={v}; lang=en",
        "{c}-old=stale; {c}={v}",  # a longer name with our name as prefix
        "x{c}=stale; {c}={v}; {c}x=stale",
        "__secure-tokenauth-refresh=stale; {c}={v}",  # cookie names are case-sensitive
        "{c}; {c}={v}",  # no "=": Django reads that as an empty name, not as ours
        "a=b={c}=stale; {c}={v}",  # our name inside another cookie's value
    ],
)
def test_one_refresh_cookie_among_others_still_refreshes(
    client: Client, user: Any, header: str
) -> None:
    victim = _browser_login(user)

    response = post_json(
        client, "/auth/refresh/", {}, HTTP_COOKIE=header.format(c=COOKIE, v=victim), **BROWSER
    )

    assert response.status_code == 200
    assert response.cookies[COOKIE].value not in ("", victim)
    assert RefreshTokenFamily.objects.get().generation == 1


def test_one_refresh_cookie_still_logs_out(client: Client, user: Any) -> None:
    victim = _browser_login(user)

    response = post_json(
        client, "/auth/logout/", {}, HTTP_COOKIE=f"theme=dark; {COOKIE}={victim}", **BROWSER
    )

    assert response.status_code == 204
    assert response.cookies[COOKIE]["max-age"] == 0
    assert RefreshTokenFamily.objects.get().revoked_at is not None


def test_a_body_token_is_used_whatever_cookies_ride_along(
    client: Client, victim_and_attacker: tuple[str, str]
) -> None:
    # The cookie is not used, so two of them decide nothing: a native app keeps working.
    victim, attacker = victim_and_attacker
    header = f"{COOKIE}={attacker}; {COOKIE}={victim}"
    issued = service.issue_tokens(user=UserFactory())

    response = post_json(
        client, "/auth/refresh/", {"refresh_token": issued.refresh_token}, HTTP_COOKIE=header
    )

    assert response.status_code == 200
    assert "refresh_token" in response.json()
    assert not response.cookies
    generations = sorted(f["generation"] for f in _families())
    assert generations == [0, 0, 1]  # only the body token's family rotated


def test_login_does_not_read_the_cookie_so_a_tossed_one_does_not_block_it(
    client: Client, user: Any
) -> None:
    attacker = _browser_login(UserFactory())
    body = {"username": user.username, "password": PASSWORD}
    header = f"{COOKIE}={attacker}; {COOKIE}=junk"

    response = post_json(client, "/auth/login/", body, HTTP_COOKIE=header, **BROWSER)

    assert response.status_code == 200
    assert response.cookies[COOKIE].value.startswith("tkrt_")


def test_outside_cookie_mode_the_cookie_header_is_ignored(
    client: Client, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REFRESH_COOKIE=None)

    response = post_json(client, "/auth/refresh/", {}, HTTP_COOKIE=f"{COOKIE}=a; {COOKIE}=b")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "refresh_token: This field is required.",
    }


_COOKIE_HEADERS = st.lists(st.sampled_from(["a", "=", ";", " ", "\t", '"', "é", COOKIE])).map(
    "".join
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # autouse, unused
@given(header=_COOKIE_HEADERS)
def test_the_count_agrees_with_djangos_parser(header: str) -> None:
    """We find the name exactly when Django's ``request.COOKIES`` would have it."""
    count = _occurrences(header, COOKIE)
    parsed = parse_cookie(header)
    assert (count == 0) == (COOKIE not in parsed)
