"""The family admin's filters: status, revocation reason, reuse detected, in the database
(DESIGN §11), through real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.admin_pages import CHANGELIST, staff
from tests.factories import UserFactory
from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db


@pytest.fixture
def families(db: None) -> dict[str, str]:
    """One family per case, by the username of its owner: name -> public id."""
    now = timezone.now()
    made = {
        "active": service.issue_tokens(user=UserFactory(username="active")),
        # Idle expiry passed (7 days), absolute not yet (30).
        "idle-expired": service.issue_tokens(
            user=UserFactory(username="idle-expired"), now=now - timedelta(days=8)
        ),
        "logged-out": service.issue_tokens(user=UserFactory(username="logged-out")),
        "by-admin": service.issue_tokens(user=UserFactory(username="by-admin")),
        "stolen": service.issue_tokens(user=UserFactory(username="stolen"), ip="192.0.2.1"),
    }
    # Absolute expiry passed while the idle one has not (a lifetime shortened since the login).
    absolute = service.issue_tokens(user=UserFactory(username="absolute-expired"))
    RefreshTokenFamily.objects.filter(public_id=absolute.family_public_id).update(
        absolute_expires_at=now - timedelta(seconds=1)
    )
    made["absolute-expired"] = absolute
    for name, reason in (("logged-out", RevocationReason.LOGOUT), ("by-admin", "admin")):
        service.revoke_family(
            family_public_id=made[name].family_public_id, reason=RevocationReason(reason)
        )
    service.refresh(refresh_token=made["stolen"].refresh_token, ip="192.0.2.1", user_agent="")
    with pytest.raises(service.InvalidRefreshToken):
        service.refresh(
            refresh_token=made["stolen"].refresh_token, ip="198.51.100.7", user_agent="thief"
        )
    return {name: issued.family_public_id for name, issued in made.items()}


@pytest.fixture
def viewer(db: None) -> Client:
    return staff("view_refreshtokenfamily")


def _listed(viewer: Client, query: dict[str, str]) -> set[str]:
    response = viewer.get(CHANGELIST, query)
    assert response.status_code == 200, response
    return {family.user.get_username() for family in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"active", "idle-expired", "absolute-expired", "logged-out", "by-admin", "stolen"}),
        ({"status": "active"}, {"active"}),
        ({"status": "expired"}, {"idle-expired", "absolute-expired"}),
        ({"status": "revoked"}, {"logged-out", "by-admin", "stolen"}),
        ({"revocation_reason__exact": "logout"}, {"logged-out"}),
        ({"revocation_reason__exact": "reuse_detected"}, {"stolen"}),
        ({"reuse_detected": "yes"}, {"stolen"}),
        (
            {"reuse_detected": "no"},
            {"active", "idle-expired", "absolute-expired", "logged-out", "by-admin"},
        ),
        ({"status": "revoked", "reuse_detected": "no"}, {"logged-out", "by-admin"}),
    ],
)
def test_each_filter_selects_its_families(
    viewer: Client, families: dict[str, str], query: dict[str, str], expected: set[str]
) -> None:
    assert _listed(viewer, query) == expected


def test_the_filters_are_offered_with_their_choices(
    viewer: Client, families: dict[str, str]
) -> None:
    response = viewer.get(CHANGELIST)

    offered = {
        spec.title: [c["display"] for c in spec.choices(response.context["cl"])]
        for spec in response.context["cl"].filter_specs
    }
    assert offered == {
        "status": ["All", "active", "expired", "revoked"],
        "revocation reason": ["All", *(label for _, label in RevocationReason.choices)],
        "reuse detected": ["All", "yes", "no"],
    }


def test_the_status_filter_follows_the_clock(viewer: Client, families: dict[str, str]) -> None:
    # Filtering is done by the database against now, not by a stored status column.
    family = RefreshTokenFamily.objects.get(public_id=families["active"])
    RefreshTokenFamily.objects.filter(pk=family.pk).update(
        idle_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert "active" in _listed(viewer, {"status": "expired"})
    assert _listed(viewer, {"status": "active"}) == set()


@pytest.mark.parametrize(
    "query",
    [
        {"status": "stolen"},
        {"status": ""},
        {"status": "ACTIVE"},
        {"reuse_detected": "maybe"},
        {"reuse_detected": "\x00"},
        {"revocation_reason__exact": "\x00"},
    ],
)
def test_a_bad_filter_value_is_refused_not_ignored(
    viewer: Client, families: dict[str, str], query: dict[str, str]
) -> None:
    response = viewer.get(CHANGELIST, query)

    # Django's answer to a bad lookup: back to the list with ?e=1, or 400 when it is refused.
    assert response.status_code in (302, 400), response
    if response.status_code == 302:
        assert response["Location"].endswith("?e=1")
