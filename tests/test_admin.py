"""The read-only family admin and its revoke action, through real HTTP (DESIGN §5, STYLE)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import UserFactory
from tokenauth import refresh_tokens, service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tokenauth/refreshtokenfamily/"


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
    parsed = refresh_tokens.parse(refresh_token)
    assert parsed is not None, "not a refresh token of ours"
    return RefreshTokenFamily.objects.get(public_id=parsed.public_id)


def _bearer(access_token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access_token}"}


def test_changelist_and_change_page_render_without_secret_or_refresh_token(
    staff_client: Client, user: Any, login: Callable[..., dict[str, Any]]
) -> None:
    body = login(user)
    refresh_token = body["refresh_token"]
    mac = refresh_token.rsplit(".", 1)[1]
    family = _family(refresh_token)

    for url in (CHANGELIST, _change_url(family)):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert family.public_id in html, url  # the page really shows this family
        assert family.secret not in html, url
        assert refresh_token not in html, url
        assert mac not in html, url


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


def test_revoke_action_revokes_only_the_selected_families(
    staff_client: Client,
    client: Client,
    user: Any,
    login: Callable[..., dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    selected_body = login(user)
    selected = _family(selected_body["refresh_token"])
    also_selected = _family(service.issue_tokens(user=user).refresh_token)
    kept_body = login(user)
    kept = _family(kept_body["refresh_token"])
    stranger = _family(service.issue_tokens(user=UserFactory()).refresh_token)
    assert client.get("/api/whoami/", **_bearer(selected_body["access_token"])).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {
                "action": "revoke",
                "_selected_action": [selected.pk, also_selected.pk],
                "index": 0,
            },
        )

    assert response.status_code == 302
    for family in (selected, also_selected):
        family.refresh_from_db()
        assert family.revoked_at is not None
        assert family.revocation_reason == RevocationReason.ADMIN
    for family in (kept, stranger):
        family.refresh_from_db()
        assert family.revoked_at is None
        assert family.revocation_reason == ""

    assert client.get("/api/whoami/", **_bearer(selected_body["access_token"])).status_code == 401
    assert client.get("/api/whoami/", **_bearer(kept_body["access_token"])).status_code == 200
    refused = client.post(
        "/auth/refresh/",
        {"refresh_token": selected_body["refresh_token"]},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_revoke_action_reports_the_count(staff_client: Client, user: Any) -> None:
    families = [_family(service.issue_tokens(user=user).refresh_token) for _ in range(2)]
    response = staff_client.post(
        CHANGELIST,
        {"action": "revoke", "_selected_action": [f.pk for f in families], "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    assert "Revoked 2 families." in [str(m) for m in response.context["messages"]]


def test_revoke_action_keeps_the_reason_of_an_already_revoked_family(
    staff_client: Client, user: Any
) -> None:
    tokens = service.issue_tokens(user=user)
    service.revoke_family(family_public_id=tokens.family_public_id, reason=RevocationReason.LOGOUT)
    family = _family(tokens.refresh_token)
    revoked_at = family.revoked_at

    staff_client.post(CHANGELIST, {"action": "revoke", "_selected_action": [family.pk], "index": 0})

    family.refresh_from_db()
    assert family.revocation_reason == RevocationReason.LOGOUT
    assert family.revoked_at == revoked_at


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


def _staff_with(*codenames: str) -> Client:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


def test_viewing_sessions_does_not_allow_revoking_them(user: Any) -> None:
    viewer = _staff_with("view_refreshtokenfamily")
    issued = service.issue_tokens(user=user)
    family = RefreshTokenFamily.objects.get(public_id=issued.family_public_id)

    page = viewer.get(CHANGELIST)
    response = viewer.post(CHANGELIST, {"action": "revoke", "_selected_action": [family.pk]})

    assert page.status_code == 200
    assert b'value="revoke"' not in page.content
    assert response.status_code in (200, 302)
    assert RefreshTokenFamily.objects.get(pk=family.pk).revoked_at is None


def test_the_revoke_permission_allows_revoking(user: Any) -> None:
    revoker = _staff_with("view_refreshtokenfamily", "revoke_refreshtokenfamily")
    issued = service.issue_tokens(user=user)
    family = RefreshTokenFamily.objects.get(public_id=issued.family_public_id)

    response = revoker.post(CHANGELIST, {"action": "revoke", "_selected_action": [family.pk]})

    assert response.status_code == 302
    assert RefreshTokenFamily.objects.get(pk=family.pk).revocation_reason == RevocationReason.ADMIN


def test_families_can_be_found_by_username(staff_client: Client, user: Any) -> None:
    other = UserFactory(username="someone-else")
    mine = service.issue_tokens(user=user).family_public_id
    theirs = service.issue_tokens(user=other).family_public_id

    page = staff_client.get(CHANGELIST, {"q": user.username})

    assert mine.encode() in page.content
    assert theirs.encode() not in page.content
