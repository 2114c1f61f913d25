"""DPoP-bound families in the admin and under every revocation (DESIGN §8, §11): the list shows
the binding at no cost per row, the detail page the jkt, and revoking treats them as any other."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.admin_pages import CHANGELIST, staff
from tests.conftest import post_json
from tests.dpop_proofs import Signer, proof_for
from tests.factories import UserFactory
from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dpop_allowed")]
REFRESH = "http://testserver/auth/refresh/"
ME = "http://testserver/api/me/"


def bound_tokens(user: Any, signer: Signer) -> service.IssuedTokens:
    return service.issue_tokens(user=user, dpop_jkt=signer.jkt)


def test_issue_tokens_binds_the_family(user: Any, signer: Signer) -> None:
    tokens = bound_tokens(user, signer)

    assert tokens.token_type == "DPoP"
    assert RefreshTokenFamily.objects.get().dpop_jkt == signer.jkt


def _changelist(client: Client) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    return response.content.decode(), len(captured)


def test_the_changelist_shows_whether_a_family_is_bound_at_no_cost_per_row(
    signer: Signer,
) -> None:
    admin = staff(superuser=True)
    bound_tokens(UserFactory(), signer)
    service.issue_tokens(user=UserFactory())
    html, with_2 = _changelist(admin)

    assert html.count('class="field-dpop_bound"') == 2
    assert 'alt="True"' in html and 'alt="False"' in html
    assert ">DPoP<" in html  # the column's header
    for _ in range(20):
        bound_tokens(UserFactory(), signer)
    assert _changelist(admin)[1] == with_2


def test_the_detail_page_shows_the_jkt(signer: Signer, user: Any) -> None:
    bound_tokens(user, signer)
    family = RefreshTokenFamily.objects.get()

    html = staff(superuser=True).get(f"{CHANGELIST}{family.pk}/change/").content.decode()

    assert "DPoP key thumbprint (jkt)" in html
    assert signer.jkt in html


def _refused_everywhere(client: Client, tokens: service.IssuedTokens, signer: Signer) -> None:
    refresh = post_json(
        client,
        "/auth/refresh/",
        {"refresh_token": tokens.refresh_token},
        HTTP_DPOP=proof_for(signer, REFRESH),
    )
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "invalid_grant"
    proof = proof_for(signer, ME, method="GET", access_token=tokens.access_token)
    me = client.get("/api/me/", HTTP_AUTHORIZATION=f"DPoP {tokens.access_token}", HTTP_DPOP=proof)
    assert me.status_code == 401


def _by_command(user: Any, tokens: service.IssuedTokens) -> None:
    call_command("tokenauth_revoke", "--family", tokens.family_public_id, stdout=StringIO())


def _by_user_command(user: Any, tokens: service.IssuedTokens) -> None:
    call_command("tokenauth_revoke", "--user", user.username, stdout=StringIO())


def _by_all_command(user: Any, tokens: service.IssuedTokens) -> None:
    call_command("tokenauth_revoke", "--all", "--yes", stdout=StringIO())


def _by_admin_action(user: Any, tokens: service.IssuedTokens) -> None:
    admin = staff(superuser=True)
    family = RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)
    form = {"action": "revoke_sessions", "_selected_action": [family.pk], "index": 0}
    admin.post(CHANGELIST, {**form, "post": "yes"})


def _by_revoke_user(user: Any, tokens: service.IssuedTokens) -> None:
    service.revoke_user(user=user, reason=RevocationReason.LOGOUT_ALL)


def _by_password_change(user: Any, tokens: service.IssuedTokens) -> None:
    fresh = User.objects.get(pk=user.pk)
    fresh.set_password("another password entirely")
    fresh.save()


def _by_deactivation(user: Any, tokens: service.IssuedTokens) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def _by_logout(user: Any, tokens: service.IssuedTokens) -> None:
    post_json(Client(), "/auth/logout/", {"refresh_token": tokens.refresh_token})


REVOCATIONS = {
    "tokenauth_revoke --family": _by_command,
    "tokenauth_revoke --user": _by_user_command,
    "tokenauth_revoke --all": _by_all_command,
    "admin action": _by_admin_action,
    "revoke_user": _by_revoke_user,
    "password change": _by_password_change,
    "deactivation": _by_deactivation,
    "logout without a proof": _by_logout,
}


@pytest.mark.parametrize("how", sorted(REVOCATIONS))
def test_every_revocation_works_the_same_for_a_bound_family(
    client: Client, user: Any, signer: Signer, how: str, django_capture_on_commit_callbacks: Any
) -> None:
    tokens = bound_tokens(user, signer)

    with django_capture_on_commit_callbacks(execute=True):
        REVOCATIONS[how](user, tokens)

    _refused_everywhere(client, tokens, signer)
    family = RefreshTokenFamily.objects.get()
    assert family.dpop_jkt == signer.jkt  # the evidence stays
