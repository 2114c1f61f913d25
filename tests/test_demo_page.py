"""The demo page at ``/`` (``make demo``): served by the example project, and clicked through in
headless Chromium like a person would.

The live server runs the example project's URLs, templates, static files, ``DEBUG`` and
``TOKENAUTH`` (cookie mode, ``Secure`` off because ``DEBUG`` is on), taken from
``example_project.settings`` itself, on the suite's test database: rows can be asserted with
the ORM, and PostgreSQL or MariaDB runs it too when ``DATABASE_URL`` says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.test import Client

from example_project import demo_user
from example_project import settings as example
from tests.chromium import ARGS as CHROMIUM_ARGS
from tests.chromium import CHROMIUM, requires_browser
from tests.conftest import post_json
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = [pytest.mark.urls("example_project.urls"), pytest.mark.django_db(transaction=True)]

REFRESH_COOKIE = "tokenauth-refresh"  # the default name with Secure off
# What a second browser calls itself: markup that must show as text, never run.
HOSTILE_AGENT = 'Second browser <img src=x onerror="window.pwned=1">'
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


@pytest.fixture
def demo_settings(settings: Any) -> None:
    settings.DEBUG = example.DEBUG
    settings.TOKENAUTH = example.TOKENAUTH
    settings.TEMPLATES = example.TEMPLATES
    settings.STATICFILES_DIRS = example.STATICFILES_DIRS


@pytest.fixture
def demo_user_row(db: None) -> Any:
    return get_user_model().objects.create_user(demo_user.USERNAME, password=demo_user.PASSWORD)


@pytest.fixture
def demo_url(live_server: Any, demo_settings: None, demo_user_row: Any) -> str:
    return str(live_server.url)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, so Django would refuse
    # the plain synchronous ORM calls the tests make between clicks.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """The shared Chromium; each test's contexts (separate browsers, in effect) closed after it."""
    contexts: list[Any] = []

    class _Browser:
        def new_context(self, **options: Any) -> Any:
            contexts.append(chromium.new_context(**options))
            return contexts[-1]

    yield _Browser()
    for context in contexts:
        context.close()


class Tab:
    """A page of the demo, and every console error and uncaught exception it showed: a failed
    request as ``"<status> <path>"``."""

    def __init__(self, context: Any, url: str, *, fake_clock: bool = False) -> None:
        self.context, self.url, self.problems = context, url, []
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        if fake_clock:
            # Time in the page moves only when the test says: exact countdowns, no waiting.
            self.page.clock.install()
            self.page.clock.pause_at(self.page.evaluate("Date.now()") + 1000)
        self.page.goto(url)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        failed = FAILED_LOAD.match(message.text)
        path = urlsplit(message.location.get("url", "")).path
        self.problems.append(f"{failed.group(1)} {path}" if failed else message.text)

    def log_in(self, username: str, password: str) -> None:
        from playwright.sync_api import expect

        expect(self.page.locator("#login")).to_be_visible()
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()

    def script_visible_cookies(self) -> list[str]:
        """``document.cookie`` on the demo page and on a page under the cookie's path."""
        seen = [self.page.evaluate("document.cookie")]
        under_auth = self.context.new_page()
        under_auth.goto(f"{self.url}auth/jwks.json")
        seen.append(under_auth.evaluate("document.cookie"))
        under_auth.close()
        return seen


def refresh_cookie(context: Any) -> dict[str, Any] | None:
    return next((c for c in context.cookies() if c["name"] == REFRESH_COOKIE), None)


def assert_refresh_cookie_hidden_from_scripts(tab: Tab) -> None:
    cookie = refresh_cookie(tab.context)
    assert cookie is not None
    assert (cookie["httpOnly"], cookie["path"], cookie["sameSite"]) == (True, "/auth/", "Strict")
    assert not [seen for seen in tab.script_visible_cookies() if "tokenauth" in seen]


def curl_d(client: Client, url: str, **fields: str) -> Any:
    """A POST as ``curl -d name=value ...`` sends it: form-encoded."""
    return client.post(url, urlencode(fields), content_type="application/x-www-form-urlencoded")


# --- the page, served --------------------------------------------------------------------


def test_the_page_is_plain_html_with_the_credentials_and_the_bundled_client(
    client: Client, demo_settings: None
) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<code id="demo-username">demo</code>' in html
    assert '<code id="demo-password">demo-password</code>' in html
    assert 'data-auth-url="/auth/"' in html
    assert 'data-me-url="/api/me/"' in html
    assert '<script type="module" src="/static/demo/demo.js">' in html
    assert not re.search(r"(src|href|url)[=(]\"?(https?:)?//", html)  # no external assets


def test_the_page_script_imports_the_bundled_client(demo_settings: None) -> None:
    script = finders.find("demo/demo.js")
    assert script is not None

    # Relative, as the browser resolves it: /static/demo/ → /static/tokenauth/client.js.
    assert 'from "../tokenauth/client.js"' in Path(script).read_text()
    assert finders.find("tokenauth/client.js") is not None


def test_the_json_that_slash_served_is_at_api(client: Client, demo_settings: None) -> None:
    response = client.get("/api/")

    assert response.status_code == 200
    assert response.json()["demo_user"] == {"username": "demo", "password": "demo-password"}
    assert response.json()["page"] == "/"


def test_the_curl_lines_work_in_cookie_mode(
    client: Client, demo_settings: None, demo_user_row: Any
) -> None:
    # The README's quick start, from a terminal: token/ ignores cookie mode (it serves OAuth
    # clients), login/ wants the CSRF proof that a browser's script sends.
    credentials = {"username": "demo", "password": "demo-password"}
    assert post_json(client, "/auth/login/", credentials).status_code == 403

    issued = curl_d(client, "/auth/token/", grant_type="password", **credentials)
    assert issued.status_code == 200, issued.content
    assert REFRESH_COOKIE not in issued.cookies
    me = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {issued.json()['access_token']}")
    assert me.status_code == 200
    assert me.json()["username"] == "demo"
    assert 0 < me.json()["access_token_expires_in"] <= 15 * 60
    renewed = curl_d(
        client,
        "/auth/token/",
        grant_type="refresh_token",
        refresh_token=issued.json()["refresh_token"],
    )
    assert renewed.status_code == 200, renewed.content
    assert renewed.json()["refresh_token"] != issued.json()["refresh_token"]


def test_a_login_from_the_page_gets_the_refresh_token_only_in_an_http_only_cookie(
    client: Client, demo_settings: None, demo_user_row: Any
) -> None:
    response = post_json(
        client,
        "/auth/login/",
        {"username": "demo", "password": "demo-password"},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
        HTTP_ORIGIN="http://testserver",
    )

    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    cookie = response.cookies[REFRESH_COOKIE]
    # Secure off: the demo is plain local HTTP, with DEBUG on.
    assert (cookie["httponly"], cookie["secure"], cookie["path"]) == (True, "", "/auth/")
    assert cookie["samesite"] == "Strict"


# --- a person clicks through it -------------------------------------------------------


@requires_browser
def test_a_person_logs_in_revokes_another_session_and_logs_out_everywhere(
    browser: Any, demo_url: str, demo_user_row: Any
) -> None:
    from playwright.sync_api import expect

    url = f"{demo_url}/"
    first = Tab(browser.new_context(), url)
    expect(first.page.locator("#status")).to_have_text("Not logged in.")
    expect(first.page.locator("#demo-username")).to_have_text("demo")
    expect(first.page.locator("#demo-password")).to_have_text("demo-password")

    first.log_in("demo", "demo-password")
    expect(first.page.locator("#username")).to_have_text("demo")
    rows = first.page.locator("#sessions tr")
    expect(rows).to_have_count(1)
    expect(first.page.locator("#sessions tr.current td.current-mark")).to_have_text("this browser")
    assert_refresh_cookie_hidden_from_scripts(first)

    # A second login, from another browser.
    second = Tab(browser.new_context(user_agent=HOSTILE_AGENT), url)
    second.log_in("demo", "demo-password")
    expect(second.page.locator("#username")).to_have_text("demo")
    assert_refresh_cookie_hidden_from_scripts(second)
    first.page.get_by_role("button", name="Reload").click()
    expect(rows).to_have_count(2)
    other = first.page.locator("#sessions tr:not(.current)")
    expect(other.locator("td.browser")).to_have_text(HOSTILE_AGENT)  # as text, not markup
    expect(first.page.locator("#sessions img")).to_have_count(0)
    assert first.page.evaluate("window.pwned") is None
    second_family = RefreshTokenFamily.objects.get(user_agent=HOSTILE_AGENT)
    assert other.get_attribute("data-session-id") == second_family.public_id

    # Revoke it: gone from the list, and its refresh really fails.
    other.get_by_role("button", name="Revoke").click()
    expect(rows).to_have_count(1)
    expect(first.page.locator("#sessions tr.current")).to_have_count(1)
    second_family.refresh_from_db()
    assert second_family.revocation_reason == RevocationReason.LOGOUT
    refused = second.context.request.post(
        f"{demo_url}/auth/refresh/",
        headers={
            "Content-Type": "application/json",
            "X-Requested-With": "XMLHttpRequest",
            "Origin": demo_url,
        },
        data="{}",
    )
    assert (refused.status, refused.json()["error"]) == (400, "invalid_grant")
    assert RefreshTokenFamily.objects.filter(revoked_at__isnull=True).count() == 1

    # Log out everywhere; a reload stays logged out.
    first.page.get_by_role("button", name="Log out everywhere").click()
    expect(first.page.locator("#login")).to_be_visible()
    expect(first.page.locator("#session")).to_be_hidden()
    assert not RefreshTokenFamily.objects.filter(revoked_at__isnull=True).exists()
    first_family = RefreshTokenFamily.objects.exclude(pk=second_family.pk).get()
    assert first_family.revocation_reason == RevocationReason.LOGOUT_ALL
    assert refresh_cookie(first.context) is None  # cleared, not just revoked
    first.page.reload()
    expect(first.page.locator("#status")).to_have_text("Not logged in.")
    expect(first.page.locator("#session")).to_be_hidden()
    assert not [seen for seen in first.script_visible_cookies() if "tokenauth" in seen]

    # No console errors: a page load without a session sends no refresh/ at all.
    assert first.problems == []
    assert second.problems == []


@requires_browser
def test_the_access_token_counts_down_and_renews_itself(
    browser: Any, demo_url: str, demo_user_row: Any
) -> None:
    from playwright.sync_api import expect

    tab = Tab(browser.new_context(), f"{demo_url}/", fake_clock=True)
    tab.log_in("demo", "demo-password")
    remaining = tab.page.locator("#access-remaining")
    expect(tab.page.locator("#username")).to_have_text("demo")
    expect(remaining).to_have_text(re.compile(r"^(15:00|14:59)$"))
    minutes, seconds = map(int, (remaining.text_content() or "").split(":"))
    left = minutes * 60 + seconds

    tab.page.clock.run_for(60_000)
    expect(remaining).to_have_text(f"{(left - 60) // 60}:{(left - 60) % 60:02}")
    assert RefreshTokenFamily.objects.get().generation == 0

    # 35 s before expiry (as after a closed laptop lid): not yet. Then ten more seconds,
    # ticking into the last 30: it renews, once.
    tab.page.clock.fast_forward((left - 60 - 35) * 1000)
    expect(remaining).to_have_text("0:35")
    with tab.page.expect_response(lambda r: r.url.endswith("/auth/refresh/")) as renewal:
        tab.page.clock.run_for(10_000)
    assert renewal.value.status == 200
    expect(tab.page.locator("#renewals")).to_have_text("1")
    expect(remaining).to_have_text(re.compile(r"^(15:00|14:59)$"))
    tab.page.clock.run_for(5_000)
    expect(tab.page.locator("#renewals")).to_have_text("1")
    assert RefreshTokenFamily.objects.get().generation == 1
    tab.page.get_by_role("button", name="Renew now").click()
    expect(tab.page.locator("#renewals")).to_have_text("2")
    assert RefreshTokenFamily.objects.get().generation == 2
    assert_refresh_cookie_hidden_from_scripts(tab)
    assert tab.problems == []


@requires_browser
def test_log_out_and_revoking_this_browsers_own_session_both_end_it_and_clear_the_cookie(
    browser: Any, demo_url: str, demo_user_row: Any
) -> None:
    from playwright.sync_api import expect

    tab = Tab(browser.new_context(), f"{demo_url}/")
    for end_it in (
        lambda: tab.page.get_by_role("button", name="Log out", exact=True).click(),
        lambda: tab.page.locator("#sessions tr.current").get_by_role("button").click(),
    ):
        tab.log_in("demo", "demo-password")
        expect(tab.page.locator("#sessions tr.current")).to_have_count(1)
        end_it()
        expect(tab.page.locator("#status")).to_have_text("You are logged out.")
        expect(tab.page.locator("#session")).to_be_hidden()
        assert refresh_cookie(tab.context) is None

    reasons = RefreshTokenFamily.objects.values_list("revocation_reason", flat=True)
    assert list(reasons) == [RevocationReason.LOGOUT, RevocationReason.LOGOUT]
    assert tab.problems == []


@requires_browser
def test_a_wrong_password_is_refused_on_the_page_and_starts_no_session(
    browser: Any, demo_url: str, demo_user_row: Any
) -> None:
    from playwright.sync_api import expect

    tab = Tab(browser.new_context(), f"{demo_url}/")
    tab.log_in("demo", "not-the-password")

    expect(tab.page.locator("#status")).to_have_text(re.compile(r"^Login refused: .+"))
    expect(tab.page.locator("#session")).to_be_hidden()
    expect(tab.page.get_by_role("button", name="Log in")).to_be_enabled()
    assert refresh_cookie(tab.context) is None
    assert not RefreshTokenFamily.objects.exists()
    assert tab.problems == ["400 /auth/login/"]  # the refused login itself
