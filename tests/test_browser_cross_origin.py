"""The browser client from another origin (DESIGN §12), as on the Vite dev server: the SPA on
one local port (a copy of client.js beside its page), Django on the live server's port, both
on ``localhost`` (same site, different origins), django-cors-headers and cookie mode on as
docs/browsers.md sets them up, in headless Chromium."""

from __future__ import annotations

import functools
import importlib.util
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import launch, requires_chromium
from tests.factories import PASSWORD, UserFactory
from tokenauth.models import RefreshTokenFamily, RevocationReason

CLIENT_JS = Path(__file__).resolve().parent.parent / "tokenauth/static/tokenauth/client.js"

pytestmark = [
    *requires_chromium,
    pytest.mark.skipif(
        importlib.util.find_spec("corsheaders") is None,
        reason="needs django-cors-headers: pip install django-cors-headers",
    ),
    pytest.mark.django_db(transaction=True),
]

SPA_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>an SPA on another origin</title></head><body>
<script type="module">
// As docs/browsers.md shows: client.js copied into the SPA, baseUrl on the API's origin.
import { TokenAuthClient } from "./client.js";
const api = new URLSearchParams(location.search).get("api");
window.api = api;
window.auth = new TokenAuthClient({ baseUrl: `${api}/auth/` });
window.ready = true;
</script></body></html>"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def spa_origin(tmp_path: Path) -> Iterator[str]:
    """A static server for the SPA, like Vite's dev server: its page and its copy of client.js."""
    (tmp_path / "index.html").write_text(SPA_PAGE)
    shutil.copy(CLIENT_JS, tmp_path / "client.js")
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://localhost:{server.server_address[1]}"
        server.shutdown()
        thread.join()


@pytest.fixture
def cross_origin(settings: Any, tokenauth_settings: Any, spa_origin: str) -> str:
    """docs/browsers.md's settings for an SPA on ``spa_origin``."""
    tokenauth_settings(REFRESH_COOKIE={})
    settings.CORS_URLS_REGEX = r"^/(auth|api)/"  # what the tests' settings leave switched off
    settings.CORS_ALLOWED_ORIGINS = [spa_origin]
    settings.CORS_ALLOW_CREDENTIALS = True
    settings.CORS_ALLOW_HEADERS = [*_default_cors_headers(), "dpop"]
    settings.CORS_EXPOSE_HEADERS = ["DPoP-Nonce"]
    settings.CSRF_TRUSTED_ORIGINS = [spa_origin]
    return spa_origin


def _default_cors_headers() -> tuple[str, ...]:
    from corsheaders.defaults import default_headers

    return tuple(default_headers)


@pytest.fixture
def spa(
    live_server: Any, cross_origin: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str]]:
    """A page of the SPA, and the API's origin."""
    api = live_server.url.replace("127.0.0.1", "localhost")
    assert api != cross_origin
    with launch(monkeypatch) as browser:
        page = browser.new_page()
        page.goto(f"{cross_origin}/?api={api}")
        page.wait_for_function("window.ready === true")
        yield page, api


def refresh_cookies(page: Any, api: str) -> list[dict[str, Any]]:
    return [c for c in page.context.cookies(f"{api}/auth/") if "tokenauth" in c["name"]]


def test_an_spa_on_another_origin_logs_in_calls_refreshes_resumes_and_logs_out(
    spa: tuple[Any, str],
) -> None:
    page, api = spa
    user = UserFactory(username="spa")

    login = page.evaluate("([u, p]) => auth.login({ username: u, password: p })", ["spa", PASSWORD])
    assert "refresh_token" not in login
    [cookie] = refresh_cookies(page, api)
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")

    me = page.evaluate("auth.fetch(`${api}/api/me/`).then(async (r) => [r.status, await r.json()])")
    assert me == [200, {"id": user.pk, "username": "spa"}]

    page.evaluate("auth.refresh()")
    assert RefreshTokenFamily.objects.get().generation == 1

    page.reload()  # a new page load: resumed from the cookie, no login form
    page.wait_for_function("window.ready === true")
    assert page.evaluate("auth.restore()") is True
    assert page.evaluate("auth.fetch(`${api}/api/me/`).then((r) => r.status)") == 200

    page.evaluate("auth.logout()")
    assert refresh_cookies(page, api) == []
    family = RefreshTokenFamily.objects.get()
    assert family.revocation_reason == RevocationReason.LOGOUT
    assert page.evaluate("auth.restore()") is False
    assert page.evaluate("auth.fetch(`${api}/api/me/`).then((r) => r.status)") == 401


def test_an_origin_that_is_not_allowed_gets_nothing(spa: tuple[Any, str], settings: Any) -> None:
    page, api = spa
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:1"]
    settings.CSRF_TRUSTED_ORIGINS = ["http://localhost:1"]
    UserFactory(username="spa")

    error = page.evaluate(
        "([u, p]) => auth.login({ username: u, password: p }).then(() => 'in', (e) => e.name)",
        ["spa", PASSWORD],
    )

    assert error == "TypeError"  # the preflight got no CORS headers: the POST never left
    assert refresh_cookies(page, api) == []
    assert not RefreshTokenFamily.objects.exists()
