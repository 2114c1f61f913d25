"""The read-only family admin: its columns, detail page, search and query count, through real
HTTP (DESIGN §11). The filters and the actions have their own files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.admin_pages import CHANGELIST, rows, titles
from tests.factories import UserFactory
from tokenauth import _refresh_tokens, service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db: None) -> Client:
    """A Client logged in (session) as a superuser; separate from the API ``client``."""
    admin_user = UserFactory(username="root", is_staff=True, is_superuser=True)
    staff = Client()
    staff.force_login(admin_user)
    return staff


def _change_url(family: RefreshTokenFamily) -> str:
    return f"{CHANGELIST}{family.pk}/change/"


def _family(refresh_token: str) -> RefreshTokenFamily:
    parsed = _refresh_tokens.parse(refresh_token)
    assert parsed is not None, "not a refresh token of ours"
    return RefreshTokenFamily.objects.get(public_id=parsed.public_id)


def test_changelist_and_change_page_render_without_secret_or_refresh_token(
    staff_client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    body = login(user)
    refresh_token = body["refresh_token"]
    mac = refresh_token.rsplit(".", 1)[1]
    family = _family(refresh_token)

    for url, shown in ((CHANGELIST, user.username), (_change_url(family), family.public_id)):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert shown in html, url  # the page really shows this family
        assert family.secret not in html, url
        assert refresh_token not in html, url
        assert mac not in html, url
        assert family.password_version not in html, url


def test_there_is_no_add_page(staff_client: Client) -> None:
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    assert staff_client.post(f"{CHANGELIST}add/", {}).status_code == 403


def test_changelist_offers_no_add_link(staff_client: Client, user: Any) -> None:
    service.issue_tokens(user=user)
    html = staff_client.get(CHANGELIST).content.decode()
    assert f'href="{CHANGELIST}add/"' not in html


def test_change_page_is_read_only(staff_client: Client, user: Any) -> None:
    family = _family(service.issue_tokens(user=user, user_agent="before").refresh_token)
    before = RefreshTokenFamily.objects.filter(pk=family.pk).values().get()
    other = UserFactory()

    response = staff_client.post(
        _change_url(family),
        {
            "user": other.pk,
            "generation": 99,
            "user_agent": "after",
            "ip_address": "198.51.100.7",
            "revoked_at_0": "2030-01-01",
            "revoked_at_1": "00:00:00",
            "revocation_reason": RevocationReason.ADMIN,
            "secret": "0" * 64,
            "_save": "Save",
        },
    )

    assert response.status_code in (302, 403)
    assert RefreshTokenFamily.objects.filter(pk=family.pk).values().get() == before
    # Nothing editable is rendered either.
    html = staff_client.get(_change_url(family)).content.decode()
    assert 'name="_save"' not in html
    assert 'name="user_agent"' not in html


def test_deleting_a_user_in_the_admin_cascades_to_their_families(
    staff_client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    login(user)
    login(user)
    revoked = service.issue_tokens(user=user)
    service.revoke_family(family_public_id=revoked.family_public_id, reason=RevocationReason.LOGOUT)
    bystander = _family(service.issue_tokens(user=UserFactory()).refresh_token)
    assert RefreshTokenFamily.objects.filter(user_id=user.pk).count() == 3
    delete_url = f"/admin/auth/user/{user.pk}/delete/"

    confirmation = staff_client.get(delete_url)
    assert confirmation.status_code == 200
    assert not confirmation.context["perms_lacking"]
    assert not confirmation.context["protected"]
    for family in RefreshTokenFamily.objects.filter(user_id=user.pk):
        assert family.secret not in confirmation.content.decode()

    response = staff_client.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not RefreshTokenFamily.objects.filter(user_id=user.pk).exists()
    assert RefreshTokenFamily.objects.filter(pk=bystander.pk, revoked_at__isnull=True).exists()


def test_families_can_be_found_by_username(staff_client: Client, user: Any) -> None:
    other = UserFactory(username="someone-else")
    mine = service.issue_tokens(user=user).family_public_id
    theirs = service.issue_tokens(user=other).family_public_id

    page = staff_client.get(CHANGELIST, {"q": user.username})

    assert mine.encode() in page.content
    assert theirs.encode() not in page.content


CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


def _row_of(response: Any, username: str) -> dict[str, str]:
    [row] = [r for r in rows(response) if r["username"] == username]
    return row


def test_a_row_shows_user_status_times_refresh_count_agent_and_ip(
    staff_client: Client,
) -> None:
    alice = UserFactory(username="alice")
    issued = service.issue_tokens(user=alice, user_agent=CHROME, ip="2001:db8::7")
    refreshed = service.refresh(
        refresh_token=issued.refresh_token, ip="2001:db8::7", user_agent=CHROME
    )
    service.refresh(refresh_token=refreshed.refresh_token, ip="2001:db8::7", user_agent=CHROME)

    response = staff_client.get(CHANGELIST)

    assert response.status_code == 200
    row = _row_of(response, "alice")  # by username, not by pk
    assert row["status"] == "active"
    assert row["created"] == "just now"
    assert row["last_used"] == "just now"
    assert row["expires"] == "in 6 days"  # 7 days less the test's milliseconds
    assert row["refresh_count"] == "2"
    assert row["short_user_agent"] == "Chrome 126 on Windows"
    assert row["ip"] == "2001:db8::7"
    [cells] = titles(response)
    assert cells["short_user_agent"] == [CHROME]  # the whole user agent on hover
    family = RefreshTokenFamily.objects.get(public_id=issued.family_public_id)
    assert cells["expires"] == [_exact(family.idle_expires_at)]
    headers = [h["text"] for h in response.context["result_headers"]][1:]  # after the checkbox
    assert headers == [
        "user",
        "status",
        "created",
        "last used",
        "expires",
        "refresh count",
        "user agent",
        "IP",
        "DPoP",  # DESIGN §11: whether the family is DPoP-bound
    ]


def _exact(value: Any) -> str:
    from django.utils import formats

    return formats.localize(timezone.localtime(value))


def test_status_is_active_expired_or_revoked_with_its_reason(staff_client: Client) -> None:
    long_ago = timezone.now() - timedelta(days=40)
    service.issue_tokens(user=UserFactory(username="active"))
    service.issue_tokens(user=UserFactory(username="expired"), now=long_ago)
    logged_out = service.issue_tokens(user=UserFactory(username="logged-out"))
    service.revoke_family(
        family_public_id=logged_out.family_public_id, reason=RevocationReason.LOGOUT
    )
    stolen = service.issue_tokens(user=UserFactory(username="stolen"), ip="192.0.2.1")
    service.refresh(refresh_token=stolen.refresh_token, ip="192.0.2.1", user_agent="")
    with pytest.raises(service.InvalidRefreshToken):
        service.refresh(refresh_token=stolen.refresh_token, ip="198.51.100.9", user_agent="thief")
    # Revoked and expired both: the revocation is what support needs to know.
    old = service.issue_tokens(user=UserFactory(username="old-and-revoked"), now=long_ago)
    service.revoke_family(family_public_id=old.family_public_id, reason=RevocationReason.ADMIN)

    response = staff_client.get(CHANGELIST)

    status = {row["username"]: row["status"] for row in rows(response)}
    assert status == {
        "active": "active",
        "expired": "expired",
        "logged-out": "revoked: logout",
        "stolen": "revoked: reuse_detected",
        "old-and-revoked": "revoked: admin",
    }
    assert 'class="tokenauth-status revoked tokenauth-reuse"' in response.content.decode()


def test_expires_is_the_earlier_of_idle_and_absolute_expiry(staff_client: Client) -> None:
    # "later" logs in first, so ordering by the idle expiry alone would put it first.
    later = service.issue_tokens(user=UserFactory(username="later")).family_public_id
    soon = service.issue_tokens(user=UserFactory(username="soon")).family_public_id
    # An absolute expiry before the idle one (a lifetime shortened since the login).
    in_an_hour = timezone.now() + timedelta(hours=1)
    RefreshTokenFamily.objects.filter(public_id=soon).update(absolute_expires_at=in_an_hour)

    first = staff_client.get(CHANGELIST)
    column = first.context["cl"].list_display.index("expires")
    ascending = staff_client.get(CHANGELIST, {"o": str(column)})

    assert _row_of(first, "soon")["expires"] == "in 59 minutes"
    assert [row["username"] for row in rows(ascending)] == ["soon", "later"]
    assert [row["username"] for row in rows(staff_client.get(CHANGELIST, {"o": f"-{column}"}))] == [
        "later",
        "soon",
    ]
    assert RefreshTokenFamily.objects.filter(public_id=later).exists()


def test_a_long_username_and_user_agent_are_shortened_with_the_whole_value_on_hover(
    staff_client: Client,
) -> None:
    name = "bartholomew.featherstonehaugh@subsidiary.example.co.uk"
    agent = "ACME-Corporate-Mobile-Workforce-Synchronisation-Agent/2024.11.3 (build 7)"
    service.issue_tokens(user=UserFactory(username=name), user_agent=agent)

    response = staff_client.get(CHANGELIST)

    [row] = rows(response)
    [cells] = titles(response)
    assert row["username"] == "bartholomew.feather…"
    assert cells["username"] == [name]
    assert row["short_user_agent"] == "ACME-Corporate-Mobile-W…"
    assert cells["short_user_agent"] == [agent]


def test_values_a_client_sent_are_escaped_in_the_list_and_the_detail_page(
    staff_client: Client,
) -> None:
    agent = '<script>alert(1)</script>" onmouseover="alert(2)'
    user = UserFactory(username="<b>mallory</b>")
    issued = service.issue_tokens(user=user, user_agent=agent)
    family = RefreshTokenFamily.objects.get(public_id=issued.family_public_id)

    for url in (CHANGELIST, _change_url(family)):
        html = staff_client.get(url).content.decode()
        assert "<script>alert(1)" not in html, url
        assert '" onmouseover="alert(2)' not in html, url
        assert "<b>mallory</b>" not in html, url
        assert "&lt;b&gt;mallory&lt;/b&gt;" in html, url


def test_the_detail_page_names_the_user_by_username(staff_client: Client) -> None:
    alice = UserFactory(username="alice")
    family = _family(service.issue_tokens(user=alice).refresh_token)

    response = staff_client.get(_change_url(family))

    html = response.content.decode()
    assert f"<title>family {family.public_id} of alice |" in html
    assert f"of user {alice.pk}" not in html
    assert f"<h2>family {family.public_id} of alice</h2>" in html


def test_the_detail_page_shows_the_reuse_incident(staff_client: Client) -> None:
    stolen = service.issue_tokens(user=UserFactory(), ip="192.0.2.1", user_agent="mine")
    service.refresh(refresh_token=stolen.refresh_token, ip="192.0.2.1", user_agent="mine")
    with pytest.raises(service.InvalidRefreshToken):
        service.refresh(
            refresh_token=stolen.refresh_token, ip="2001:db8:bad::1", user_agent="curl/8.5.0"
        )
    family = RefreshTokenFamily.objects.get(public_id=stolen.family_public_id)

    response = staff_client.get(_change_url(family))

    assert response.status_code == 200
    incident, *others = response.context["adminform"]
    assert incident.name == "Reuse incident"
    shown = {field.field["label"]: field.contents() for line in incident for field in line}
    assert shown == {
        "detected at": _exact(family.reuse_detected_at),
        "IP address": "2001:db8:bad::1",
        "user agent": "curl/8.5.0",
    }
    assert "tokenauth-reuse-incident" in incident.classes
    assert [fieldset.name for fieldset in others] == [None, "Times", "Revocation"]


def test_a_family_without_reuse_has_no_incident_on_its_page(
    staff_client: Client, user: Any
) -> None:
    family = _family(service.issue_tokens(user=user).refresh_token)

    response = staff_client.get(_change_url(family))

    assert [fieldset.name for fieldset in response.context["adminform"]] == [
        None,
        "Times",
        "Revocation",
    ]
    assert b"Reuse incident" not in response.content


def _search(staff_client: Client, term: str) -> list[str]:
    response = staff_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    return sorted(family.user.get_username() for family in response.context["cl"].result_list)


def test_search_by_username_email_public_id_and_ip(staff_client: Client) -> None:
    alice = UserFactory(username="alice", email="alice@wonderland.example")
    bob = UserFactory(username="bob", email="robert@builders.example")
    mine = service.issue_tokens(user=alice, ip="203.0.113.5")
    service.issue_tokens(user=bob, ip="2001:db8:85a3::8a2e:370:7334")

    assert _search(staff_client, "alice") == ["alice"]
    assert _search(staff_client, "ALI") == ["alice"]  # usernames case-insensitively
    assert _search(staff_client, "builders.example") == ["bob"]
    assert _search(staff_client, mine.family_public_id) == ["alice"]
    assert _search(staff_client, mine.family_public_id[:8]) == ["alice"]  # a prefix from a log
    assert _search(staff_client, "203.0.113.5") == ["alice"]
    assert _search(staff_client, "2001:DB8:85A3") == ["bob"]
    assert _search(staff_client, "nobody") == []


def test_search_finds_the_ip_a_stolen_token_came_back_from(staff_client: Client) -> None:
    stolen = service.issue_tokens(user=UserFactory(username="victim"), ip="192.0.2.1")
    service.refresh(refresh_token=stolen.refresh_token, ip="192.0.2.1", user_agent="")
    with pytest.raises(service.InvalidRefreshToken):
        service.refresh(refresh_token=stolen.refresh_token, ip="198.51.100.66", user_agent="")
    service.issue_tokens(user=UserFactory(username="bystander"), ip="192.0.2.1")

    assert _search(staff_client, "198.51.100.66") == ["victim"]


def test_search_skips_an_email_field_the_user_model_does_not_have(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A custom user model may name no email column at all (AbstractBaseUser's default is
    # "email"); searching then must not end in a FieldError (a 500).
    monkeypatch.setattr(get_user_model(), "EMAIL_FIELD", "contact_address", raising=False)
    service.issue_tokens(user=UserFactory(username="alice"))

    assert _search(staff_client, "alice") == ["alice"]


def test_a_search_with_a_nul_is_refused_with_a_message(staff_client: Client) -> None:
    service.issue_tokens(user=UserFactory(username="alice"))

    response = staff_client.get(CHANGELIST, {"q": "ali\x00ce"})

    assert response.status_code == 200  # Django's search form refuses it, not the database
    assert "Null characters are not allowed." in [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize("term", ["%", "_", "' OR 1=1 --", "a" * 10_000, "é" * 50])
def test_adversarial_search_terms_are_just_searched(staff_client: Client, term: str) -> None:
    service.issue_tokens(user=UserFactory(username="alice"), ip="203.0.113.5")

    assert _search(staff_client, term) == []


def _changelist_statements(staff_client: Client, query: dict[str, str]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = staff_client.get(CHANGELIST, query)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "query", [{}, {"q": "user"}, {"status": "active"}, {"reuse_detected": "no", "o": "2"}]
)
def test_the_changelist_query_count_does_not_grow_with_its_rows(
    staff_client: Client, query: dict[str, str]
) -> None:
    def add_families(count: int) -> None:
        for _ in range(count):
            service.issue_tokens(user=UserFactory(), user_agent=CHROME, ip="2001:db8::1")

    add_families(3)
    with_3 = _changelist_statements(staff_client, query)
    add_families(27)
    with_30 = _changelist_statements(staff_client, query)

    assert len(rows(staff_client.get(CHANGELIST, query))) == 30
    assert with_3 == with_30
    assert with_30 <= 7  # session, user, counts, dates, rows: nothing per row
