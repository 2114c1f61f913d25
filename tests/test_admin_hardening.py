"""The family admin leaks no secret through filters, search or ordering, and deletes nothing in
bulk (DESIGN §11): a view-only staff user must not rebuild a refresh token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import UserFactory
from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tokenauth/refreshtokenfamily/"
SECRET_FIELDS = ("secret", "password_version", "client_binding")


def _staff(*codenames: str, superuser: bool = False) -> Client:
    staff = UserFactory(is_staff=True, is_superuser=superuser)
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture(params=["view-only", "superuser"])
def staff_client(request: Any, db: None) -> Client:
    if request.param == "superuser":
        return _staff(superuser=True)
    return _staff("view_refreshtokenfamily")


@pytest.fixture
def family(user: Any) -> RefreshTokenFamily:
    issued = service.issue_tokens(user=user, user_agent="agent", ip="192.0.2.1")
    # One rotation, so that ``client_binding`` is set too.
    service.refresh(refresh_token=issued.refresh_token, ip="192.0.2.1", user_agent="agent")
    family = RefreshTokenFamily.objects.get(public_id=issued.family_public_id)
    assert family.secret and family.password_version and family.client_binding
    return family


# Filters that would each tell a guesser whether a prefix (or the whole value) is right.
LOOKUPS: dict[str, Callable[[RefreshTokenFamily], str]] = {
    "secret__startswith": lambda f: f.secret[:1],
    "secret": lambda f: f.secret,
    "secret__exact": lambda f: f.secret,
    "secret__regex": lambda f: f"^{f.secret[:2]}",
    "secret__gt": lambda f: f.secret[:3],
    "secret__in": lambda f: f.secret,
    "secret__isnull": lambda f: "False",
    "password_version": lambda f: f.password_version,
    "password_version__startswith": lambda f: f.password_version[:1],
    "client_binding__startswith": lambda f: f.client_binding[:1],
    "user__token_families__secret__startswith": lambda f: f.secret[:1],
    "user__token_families__password_version": lambda f: f.password_version,
    "user__password__startswith": lambda f: "md5$",
}


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_a_filter_through_a_secret_field_is_refused(
    staff_client: Client, family: RefreshTokenFamily, lookup: str
) -> None:
    assert staff_client.get(CHANGELIST).status_code == 200  # the page itself is open to them

    response = staff_client.get(CHANGELIST, {lookup: LOOKUPS[lookup](family)})

    assert response.status_code == 400
    assert family.public_id.encode() not in response.content


def test_a_true_and_a_false_secret_prefix_get_the_same_answer(
    staff_client: Client, family: RefreshTokenFamily
) -> None:
    right = family.secret[:4]
    wrong = ("0" if right[0] != "0" else "1") + right[1:]

    answers = [staff_client.get(CHANGELIST, {"secret__startswith": p}) for p in (right, wrong)]

    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].content == answers[1].content


def test_search_does_not_match_a_secret(staff_client: Client, family: RefreshTokenFamily) -> None:
    for value in (family.secret, family.secret[:8], family.password_version):
        response = staff_client.get(CHANGELIST, {"q": value})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0, value
    found = staff_client.get(CHANGELIST, {"q": family.public_id})
    assert found.context["cl"].result_count == 1  # search does work


@pytest.mark.parametrize("order", ["secret", "-secret", "0.secret", "99", "-99", "secret__gt"])
def test_the_list_cannot_be_ordered_by_a_secret(
    staff_client: Client, family: RefreshTokenFamily, order: str
) -> None:
    response = staff_client.get(CHANGELIST, {"o": order})

    assert response.status_code == 200
    ordering = " ".join(str(term) for term in response.context["cl"].queryset.query.order_by)
    for field in SECRET_FIELDS:
        assert field not in ordering


def test_the_changelist_offers_no_bulk_delete(family: RefreshTokenFamily) -> None:
    root = _staff(superuser=True)

    page = root.get(CHANGELIST)
    attempt = root.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [family.pk], "post": "yes"}
    )

    choices = [name for name, _ in page.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in choices
    assert {"revoke_sessions", "revoke_users_sessions"} <= set(choices)
    assert attempt.status_code in (200, 302)
    assert RefreshTokenFamily.objects.filter(pk=family.pk).exists()


def test_deleting_one_family_in_the_admin_revokes_it_first(
    family: RefreshTokenFamily,
    revoked_events: list[dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    root = _staff(superuser=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = root.post(f"{CHANGELIST}{family.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not RefreshTokenFamily.objects.filter(pk=family.pk).exists()
    assert revoked_events == [
        {
            "user_id": family.user_id,
            "family_public_id": family.public_id,
            "reason": RevocationReason.ADMIN,
        }
    ]


def test_staff_who_may_delete_users_and_families_can_delete_a_user_with_families(
    user: Any, family: RefreshTokenFamily
) -> None:
    service.issue_tokens(user=user)
    bystander = service.issue_tokens(user=UserFactory()).family_public_id
    staff = _staff("view_user", "delete_user", "delete_refreshtokenfamily")
    delete_url = f"/admin/auth/user/{user.pk}/delete/"

    confirmation = staff.get(delete_url)
    assert confirmation.status_code == 200
    assert not confirmation.context["perms_lacking"]
    assert family.secret.encode() not in confirmation.content

    response = staff.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not RefreshTokenFamily.objects.filter(user_id=user.pk).exists()
    assert RefreshTokenFamily.objects.filter(public_id=bystander).exists()


def test_the_user_admin_refuses_filters_through_families(family: RefreshTokenFamily) -> None:
    root = _staff(superuser=True)
    for field in SECRET_FIELDS:
        response = root.get("/admin/auth/user/", {f"token_families__{field}__startswith": "a"})
        assert response.status_code == 400, field


@pytest.mark.parametrize("field", SECRET_FIELDS)
def test_a_popup_cannot_show_a_secret_as_the_picked_value(
    staff_client: Client, family: RefreshTokenFamily, field: str
) -> None:
    # With ``_to_field`` allowed, each row's link would carry that field's value.
    for url in (CHANGELIST, f"{CHANGELIST}{family.pk}/change/"):
        response = staff_client.get(url, {"_to_field": field, "_popup": "1"})
        assert response.status_code == 400, url
        assert getattr(family, field).encode() not in response.content
