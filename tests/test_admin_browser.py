"""What support sees: the family admin in headless Chromium at 1280x800 (DESIGN §11).

The changelist must fit the screen with realistic rows (long user agents and usernames, IPv6
addresses). Screenshots of the list and of a reuse incident's detail page are written to
``$TOKENAUTH_ARTIFACTS`` (else a pytest tmp dir); the test prints where. Never committed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.chromium import ARGS as CHROMIUM_ARGS
from tests.chromium import CHROMIUM, requires_chromium
from tests.factories import UserFactory
from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = [
    *requires_chromium,
    pytest.mark.django_db(transaction=True),
]

T = TypeVar("T")
CHANGELIST = "/admin/tokenauth/refreshtokenfamily/"
WIDTH, HEIGHT = 1280, 800
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "okhttp/4.12.0",
    # An in-app browser: the longest kind, cut to the column's 255 characters when stored.
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/468.0.0.55.105;FBBV/620316498;FBDM/{density=2.625,width=1080,"
    "height=2340};FBLC/en_GB;FBRV/0;FBCR/Vodafone;FBMF/samsung;FBBD/samsung;FBPN/com.facebook",
    "ACME-Corporate-Mobile-Workforce-Synchronisation-Agent/2024.11.3-enterprise",
]
ADDRESSES = [
    "2001:db8:1234:5678:9abc:def0:1234:5678",  # an IPv6 address that does not compress
    "203.0.113.254",
    "2a02:8108:1a3f:c600:5d3e:91ff:fe0a:77b1",
    None,
]


@pytest.fixture
def artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    directory = Path(os.environ.get("TOKENAUTH_ARTIFACTS") or tmp_path) / "admin"
    directory.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():  # shown even when the test passes
        print(f"\nadmin screenshots in {directory}")
    return directory


@pytest.fixture
def support_cookie(live_server: Any) -> dict[str, str]:
    """The session cookie of a superuser, for the browser (as if logged in to the admin)."""
    staff = Client()
    staff.force_login(UserFactory(username="support", is_staff=True, is_superuser=True))
    value = staff.cookies[settings.SESSION_COOKIE_NAME].value
    return {"name": settings.SESSION_COOKIE_NAME, "value": value, "url": live_server.url}


def in_browser(cookie: dict[str, str], steps: Callable[[Any], T]) -> T:
    """Run ``steps`` on a fresh 1280x800 Chromium tab carrying ``cookie``; return their result.

    Playwright's sync API runs an event loop in this thread, where Django refuses database
    calls: set rows up before, assert on them after.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
            context.add_cookies([cookie])
            return steps(context.new_page())
        finally:
            browser.close()


def open_page(page: Any, url: str, screenshot: Path) -> None:
    """Go to ``url`` and save what the screen shows, then the whole page (``-full``)."""
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.screenshot(path=screenshot)
    page.screenshot(path=screenshot.with_name(f"{screenshot.stem}-full.png"), full_page=True)


def _sessions() -> RefreshTokenFamily:
    """Thirty rows of what a real table holds; returns the one whose token was replayed."""
    usernames = [
        "alice",
        "bartholomew.featherstonehaugh-cholmondeley@subsidiary.example.co.uk",
        "x" * 150,  # the longest username Django's user model allows
        "chen.wei",
    ]
    users = [UserFactory(username=name) for name in usernames]
    now = timezone.now()
    families = []
    for i in range(30):
        issued = service.issue_tokens(
            user=users[i % len(users)],
            user_agent=AGENTS[i % len(AGENTS)],
            ip=ADDRESSES[i % len(ADDRESSES)],
            now=now - timedelta(days=i, minutes=7 * i),
        )
        families.append(issued)
    reasons = [r for r in RevocationReason if r != RevocationReason.REUSE_DETECTED]
    for issued, reason in zip(families[1:], reasons, strict=False):
        service.revoke_family(family_public_id=issued.family_public_id, reason=reason)
    stolen = families[0]
    service.refresh(refresh_token=stolen.refresh_token, ip=ADDRESSES[1], user_agent=AGENTS[0])
    with pytest.raises(service.InvalidRefreshToken):  # the thief replays the spent token
        service.refresh(
            refresh_token=stolen.refresh_token, ip="2001:db8:dead:beef::1", user_agent=AGENTS[4]
        )
    return RefreshTokenFamily.objects.get(public_id=stolen.family_public_id)


LIST_SCRIPT = """() => {
    const results = document.querySelector("#changelist-form .results");
    return {
        page: document.documentElement.scrollWidth,
        table: results.scrollWidth,
        box: results.clientWidth,
        rows: Array.from(document.querySelectorAll("#result_list tbody tr"), (r) => r.innerText),
    };
}"""


def test_the_changelist_fits_a_1280_pixel_screen(
    live_server: Any, support_cookie: dict[str, str], artifacts: Path
) -> None:
    _sessions()

    def look(page: Any) -> Any:
        open_page(page, f"{live_server.url}{CHANGELIST}", artifacts / "changelist.png")
        return page.evaluate(LIST_SCRIPT)

    seen = in_browser(support_cookie, look)

    assert len(seen["rows"]) == 30
    assert seen["page"] <= WIDTH, seen["page"]  # no horizontal scrollbar on the page
    assert seen["table"] <= seen["box"], (seen["table"], seen["box"])  # nor in the table's box
    assert "revoked: reuse_detected" in seen["rows"][0]  # the newest: the stolen session


def test_the_detail_page_shows_the_reuse_incident(
    live_server: Any, support_cookie: dict[str, str], artifacts: Path
) -> None:
    stolen = _sessions()

    def look(page: Any) -> Any:
        url = f"{live_server.url}{CHANGELIST}{stolen.pk}/change/"
        open_page(page, url, artifacts / "detail.png")
        incident = page.locator("fieldset.tokenauth-reuse-incident")
        return {
            "page": page.evaluate("document.documentElement.scrollWidth"),
            "incident": incident.inner_text() if incident.count() else None,
            "incident_top": incident.bounding_box()["y"] if incident.count() else None,
            "html": page.content(),
        }

    seen = in_browser(support_cookie, look)

    assert seen["incident"] is not None, "no reuse incident on the page"
    assert "2001:db8:dead:beef::1" in seen["incident"]
    assert "FB_IAB/FB4A" in seen["incident"]
    assert seen["incident_top"] < HEIGHT / 2  # the first thing on the page, not below the fold
    assert seen["page"] <= WIDTH
    assert stolen.secret not in seen["html"]


def test_support_ends_every_session_of_a_user_from_the_list(
    live_server: Any, support_cookie: dict[str, str], artifacts: Path
) -> None:
    stolen = _sessions()
    victim = stolen.user
    unrevoked = RefreshTokenFamily.objects.filter(user=victim, revoked_at__isnull=True).count()
    others = RefreshTokenFamily.objects.exclude(user=victim).filter(revoked_at__isnull=True)
    untouched = set(others.values_list("pk", flat=True))
    assert unrevoked > 1 and untouched

    def revoke(page: Any) -> tuple[int, str]:
        # First a look at every session on the page, then back: nothing is revoked.
        page.goto(f"{live_server.url}{CHANGELIST}")
        page.check("#action-toggle")
        page.select_option("select[name=action]", "revoke_sessions")
        page.click("button[name=index]")
        page.wait_for_selector("text=Yes, revoke")
        page.screenshot(path=artifacts / "confirm-sessions.png", full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        page.click("text=No, take me back")
        page.wait_for_selector("#result_list")
        # Then the stolen session's user: every session of theirs.
        page.goto(f"{live_server.url}{CHANGELIST}?q={victim.username}")
        page.locator("#result_list tbody input.action-select").first.check()  # the stolen one
        page.select_option("select[name=action]", "revoke_users_sessions")
        page.click("button[name=index]")
        page.wait_for_selector("text=Yes, revoke")
        page.screenshot(path=artifacts / "confirm-users.png", full_page=True)
        page.click("input[type=submit][value='Yes, revoke']")
        page.wait_for_selector("ul.messagelist")
        return width, page.locator("ul.messagelist").inner_text()

    width, message = in_browser(support_cookie, revoke)

    assert width <= WIDTH

    assert message == f"Revoked {unrevoked} sessions of 1 user."
    assert not RefreshTokenFamily.objects.filter(user=victim, revoked_at__isnull=True).exists()
    assert set(others.values_list("pk", flat=True)) == untouched
