"""The admin's two revoke actions, each behind its confirmation page (DESIGN §11), over real
HTTP: what the page lists, that only its own POST revokes, and who may."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.admin_pages import CHANGELIST, staff
from tests.factories import UserFactory
from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db

SESSIONS = "revoke_sessions"
USERS = "revoke_users_sessions"


@pytest.fixture
def revoker(db: None) -> Client:
    """Staff who may view and revoke sessions, and nothing else."""
    return staff("view_refreshtokenfamily", "revoke_refreshtokenfamily")


def _issue(user: Any, **options: Any) -> RefreshTokenFamily:
    issued = service.issue_tokens(user=user, **options)
    return RefreshTokenFamily.objects.get(public_id=issued.family_public_id)


def _choose(client: Client, action: str, families: list[RefreshTokenFamily]) -> Any:
    """The changelist's action form: tick the families, pick the action, press Go."""
    selection = [family.pk for family in families]
    return client.post(CHANGELIST, {"action": action, "_selected_action": selection, "index": 0})


def _confirm(client: Client, page: Any, **options: Any) -> Any:
    """Press "Yes, revoke" on a confirmation page: post back exactly its form's fields."""
    html = page.content.decode()
    form = re.search(r'<form method="post">(.*?)</form>', html, re.S)
    assert form is not None, "no confirmation form"
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form[1]):
        fields.setdefault(name, []).append(value)
    return client.post(CHANGELIST, fields, **options)


def _live(family: RefreshTokenFamily) -> bool:
    return RefreshTokenFamily.objects.get(pk=family.pk).revoked_at is None


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_both_actions_are_offered_and_bulk_delete_is_not(user: Any) -> None:
    _issue(user)

    page = staff(superuser=True).get(CHANGELIST)  # who may delete families, too

    choices = dict(page.context["action_form"].fields["action"].choices)
    choices.pop("")  # the blank choice: "---------", or "- Select an option -" on Django 6
    assert choices == {
        SESSIONS: "Revoke selected sessions",
        USERS: "Revoke every session of the selected sessions' users",
    }


def test_choosing_revoke_sessions_shows_what_will_be_revoked_and_revokes_nothing(
    revoker: Client, revoked_events: list[dict[str, Any]]
) -> None:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    live = _issue(alice, user_agent="curl/8.5.0", ip="2001:db8::5")
    other = _issue(bob)
    logged_out = _issue(bob)
    service.revoke_family(family_public_id=logged_out.public_id, reason=RevocationReason.LOGOUT)
    revoked_events.clear()

    page = _choose(revoker, SESSIONS, [live, other, logged_out])

    assert page.status_code == 200
    assert page.templates[0].name == "admin/tokenauth/refreshtokenfamily/revoke_confirmation.html"
    html = page.content.decode()
    assert "This revokes <strong>2 of the 3 selected sessions</strong>" in html
    for family in (live, other, logged_out):
        assert family.public_id in html
        assert family.secret not in html
    assert "revoked: logout" in html
    assert "2001:<wbr>db8:<wbr>:<wbr>5" in html
    assert 'title="curl/8.5.0">curl 8.5.0</span>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<input type="hidden" name="post" value="yes">' in html
    assert f'<input type="hidden" name="action" value="{SESSIONS}">' in html
    assert _live(live) and _live(other)
    assert revoked_events == []


def test_confirming_revokes_the_selected_sessions_through_the_service(
    revoker: Client,
    client: Client,
    user: Any,
    login: Callable[..., dict[str, Any]],
    revoked_events: list[dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    selected_body = login(user)
    selected = RefreshTokenFamily.objects.get(user=user)
    also_selected = _issue(user)
    kept_body = login(user)
    stranger = _issue(UserFactory())
    revoked_events.clear()
    page = _choose(revoker, SESSIONS, [selected, also_selected])

    with django_capture_on_commit_callbacks(execute=True):
        response = _confirm(revoker, page, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[0][1] == 302
    assert _messages(response) == ["Revoked 2 sessions."]
    for family in (selected, also_selected):
        family.refresh_from_db()
        assert family.revocation_reason == RevocationReason.ADMIN
    assert RefreshTokenFamily.objects.filter(revoked_at__isnull=True).count() == 2  # kept, stranger
    assert _live(stranger)
    # Signals as for any revocation: one family_revoked per family, reason admin.
    assert sorted(
        (e["user_id"], e["family_public_id"], e["reason"]) for e in revoked_events
    ) == sorted(
        (user.pk, family.public_id, RevocationReason.ADMIN) for family in (selected, also_selected)
    )
    whoami = "/api/whoami/"
    assert (
        client.get(whoami, HTTP_AUTHORIZATION=f"Bearer {selected_body['access_token']}").status_code
        == 401
    )
    assert (
        client.get(whoami, HTTP_AUTHORIZATION=f"Bearer {kept_body['access_token']}").status_code
        == 200
    )
    refused = client.post(
        "/auth/refresh/",
        {"refresh_token": selected_body["refresh_token"]},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_confirming_keeps_the_reason_of_an_already_revoked_session(
    revoker: Client, user: Any
) -> None:
    family = _issue(user)
    service.revoke_family(family_public_id=family.public_id, reason=RevocationReason.LOGOUT)
    revoked_at = RefreshTokenFamily.objects.get(pk=family.pk).revoked_at

    response = _confirm(revoker, _choose(revoker, SESSIONS, [family]), follow=True)

    family.refresh_from_db()
    assert (family.revocation_reason, family.revoked_at) == (RevocationReason.LOGOUT, revoked_at)
    assert _messages(response) == ["Revoked 0 sessions."]


def test_revoke_users_sessions_lists_the_users_and_how_many_sessions_each(
    revoker: Client,
) -> None:
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    alices = [_issue(alice) for _ in range(3)]
    service.revoke_family(family_public_id=alices[2].public_id, reason=RevocationReason.LOGOUT)
    bobs = _issue(bob)
    _issue(carol)

    page = _choose(revoker, USERS, [alices[0], alices[2], bobs])

    assert page.status_code == 200
    html = page.content.decode()
    listed = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td></tr>", html)
    assert listed == [("alice", "2"), ("bob", "1")]  # carol was not selected
    assert (
        "This revokes <strong>3 sessions</strong>: every one not revoked yet of the 2 users" in html
    )
    assert "carol" not in html
    assert RefreshTokenFamily.objects.filter(revoked_at__isnull=True).count() == 4


def test_confirming_revokes_every_session_of_those_users_even_ones_opened_since(
    revoker: Client, revoked_events: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    selected = _issue(alice)
    unselected_of_alice = _issue(alice)
    bobs = _issue(bob)
    carols = _issue(carol)
    page = _choose(revoker, USERS, [selected, bobs])
    opened_since = _issue(alice)  # the thief logs in again while support reads the page
    revoked_events.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = _confirm(revoker, page, follow=True)

    assert _messages(response) == ["Revoked 4 sessions of 2 users."]
    for family in (selected, unselected_of_alice, bobs, opened_since):
        family.refresh_from_db()
        assert family.revocation_reason == RevocationReason.ADMIN
    assert _live(carols)
    assert sorted(
        (e["user_id"], e["family_public_id"], e["reason"]) for e in revoked_events
    ) == sorted(
        (family.user_id, family.public_id, RevocationReason.ADMIN)
        for family in (selected, unselected_of_alice, bobs, opened_since)
    )


@pytest.mark.parametrize("action", [SESSIONS, USERS])
def test_a_get_of_the_confirmation_never_revokes(revoker: Client, user: Any, action: str) -> None:
    family = _issue(user)
    query = {"action": action, "_selected_action": family.pk, "post": "yes", "index": 0}

    response = revoker.get(CHANGELIST, query)

    assert response.status_code in (200, 302)
    assert b"Yes, revoke" not in response.content
    assert _live(family)


@pytest.mark.parametrize("action", [SESSIONS, USERS])
def test_the_confirmation_needs_the_csrf_token(user: Any, action: str) -> None:
    browser = staff(
        "view_refreshtokenfamily", "revoke_refreshtokenfamily", enforce_csrf_checks=True
    )
    family = _issue(user)
    changelist = browser.get(CHANGELIST)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.content.decode())
    assert token is not None
    page = browser.post(
        CHANGELIST,
        {
            "action": action,
            "_selected_action": family.pk,
            "index": 0,
            "csrfmiddlewaretoken": token[1],
        },
    )
    assert page.status_code == 200

    forged = browser.post(
        CHANGELIST, {"action": action, "_selected_action": family.pk, "post": "yes"}
    )
    assert forged.status_code == 403
    assert _live(family)

    confirmed = _confirm(browser, page)
    assert confirmed.status_code == 302
    assert not _live(family)


@pytest.mark.parametrize("action", [SESSIONS, USERS])
@pytest.mark.parametrize("confirmed", [False, True])
def test_staff_who_may_only_view_can_neither_see_nor_use_the_actions(
    user: Any, action: str, confirmed: bool
) -> None:
    viewer = staff("view_refreshtokenfamily")
    family = _issue(user)

    page = viewer.get(CHANGELIST)
    data = {"action": action, "_selected_action": family.pk, "index": 0}
    if confirmed:
        data["post"] = "yes"
    response = viewer.post(CHANGELIST, data, follow=True)

    assert page.status_code == 200
    assert b'name="action"' not in page.content  # no action form at all
    assert b"Yes, revoke" not in response.content
    assert _live(family)


def test_superusers_may_revoke(user: Any) -> None:
    root = staff(superuser=True)
    family = _issue(user)

    response = _confirm(root, _choose(root, SESSIONS, [family]))

    assert response.status_code == 302
    assert not _live(family)


@pytest.mark.parametrize(
    "selection", [["abc"], ["1.5"], ["99999999999999999999999"], ["\x00"], ["1", "x"]]
)
@pytest.mark.parametrize("confirmed", [False, True])
def test_a_selection_that_is_not_primary_keys_is_a_400(
    revoker: Client, user: Any, selection: list[str], confirmed: bool
) -> None:
    family = _issue(user)
    data: dict[str, Any] = {"action": SESSIONS, "_selected_action": selection, "index": 0}
    if confirmed:
        data = {"action": SESSIONS, "_selected_action": selection, "post": "yes"}

    response = revoker.post(CHANGELIST, data)

    assert response.status_code == 400
    assert _live(family)


def test_nothing_selected_revokes_nothing(revoker: Client, user: Any) -> None:
    family = _issue(user)

    response = revoker.post(CHANGELIST, {"action": SESSIONS, "index": 0}, follow=True)

    assert "Items must be selected" in " ".join(_messages(response))
    assert _live(family)


def test_select_all_across_pages_lists_and_revokes_exactly_the_filtered_rows(
    revoker: Client,
) -> None:
    active = [_issue(UserFactory()) for _ in range(3)]
    revoked = _issue(UserFactory())
    service.revoke_family(family_public_id=revoked.public_id, reason=RevocationReason.LOGOUT)
    url = f"{CHANGELIST}?status=active"
    data = {"action": SESSIONS, "_selected_action": active[0].pk, "select_across": "1", "index": 0}

    page = revoker.post(url, data)
    html = page.content.decode()
    assert "This revokes <strong>3 of the 3 selected sessions</strong>" in html
    assert revoked.public_id not in html
    fields = dict(re.findall(r'<input type="hidden" name="(action|post)" value="([^"]*)"', html))
    selected = re.findall(r'name="_selected_action" value="(\d+)"', html)
    response = revoker.post(url, {**fields, "_selected_action": selected})

    assert response.status_code == 302
    assert not any(_live(family) for family in active)


def _confirmation_statements(
    revoker: Client, action: str, families: list[RefreshTokenFamily]
) -> int:
    with CaptureQueriesContext(connection) as captured:
        page = _choose(revoker, action, families)
    assert page.status_code == 200
    return len(captured)


@pytest.mark.parametrize("action", [SESSIONS, USERS])
def test_the_confirmation_query_count_does_not_grow_with_the_selection(
    revoker: Client, action: str
) -> None:
    families = [_issue(UserFactory()) for _ in range(30)]

    assert _confirmation_statements(revoker, action, families[:3]) == _confirmation_statements(
        revoker, action, families
    )
