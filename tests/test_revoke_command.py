"""``tokenauth_revoke --user USERNAME... | --family ID... | --all --yes`` (DESIGN §11): what it
revokes, what it prints, and what it refuses. The single-user and single-family cases are in
test_commands.py."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.conftest import post_json
from tests.factories import UserFactory
from tokenauth import service, signals
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("tokenauth_revoke", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _live() -> set[str]:
    return set(
        RefreshTokenFamily.objects.filter(revoked_at__isnull=True).values_list(
            "public_id", flat=True
        )
    )


def test_several_users_each_lose_every_session_and_the_rest_keep_theirs() -> None:
    alice, bob, carol = (UserFactory(username=name) for name in ("alice", "bob", "carol"))
    for person in (alice, alice, bob):
        service.issue_tokens(user=person)
    kept = service.issue_tokens(user=carol)

    out = _run("--user", "alice", "bob")

    assert out.splitlines() == [
        "alice: 2 families revoked",
        "bob: 1 family revoked",
        "Revoked 3 families.",
    ]
    assert _live() == {kept.family_public_id}
    reasons = set(
        RefreshTokenFamily.objects.filter(revoked_at__isnull=False).values_list(
            "revocation_reason", flat=True
        )
    )
    assert reasons == {RevocationReason.COMMAND}


def test_an_unknown_user_among_several_revokes_nobody() -> None:
    alice = UserFactory(username="alice")
    tokens = service.issue_tokens(user=alice)

    with pytest.raises(CommandError, match=r"No user 'nobody'\."):
        _run("--user", "alice", "nobody")

    assert _live() == {tokens.family_public_id}


def test_each_family_id_says_whether_it_was_revoked(user: Any) -> None:
    live = service.issue_tokens(user=user)
    gone = service.issue_tokens(user=user)
    service.revoke_family(family_public_id=gone.family_public_id, reason=RevocationReason.LOGOUT)

    out = _run("--family", live.family_public_id, gone.family_public_id, "not-an-id")

    assert out.splitlines() == [
        f"{live.family_public_id}: revoked",
        f"{gone.family_public_id}: not live (unknown, expired or already revoked)",
        "'not-an-id': not live (unknown, expired or already revoked)",
        "Revoked 1 family.",
    ]


def test_all_without_yes_is_refused_and_revokes_nothing(user: Any) -> None:
    tokens = service.issue_tokens(user=user)

    with pytest.raises(CommandError, match="--all revokes every session of every user"):
        _run("--all")

    assert _live() == {tokens.family_public_id}


def test_all_with_yes_revokes_every_live_family_with_a_signal_each(
    client: Client, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    others = UserFactory.create_batch(3)
    issued = [service.issue_tokens(user=u) for u in [user, user, *others]]
    already = service.issue_tokens(user=user)
    service.revoke_family(family_public_id=already.family_public_id, reason=RevocationReason.LOGOUT)
    received: list[dict[str, Any]] = []

    def on_revoked(**kwargs: Any) -> None:
        received.append(kwargs)

    signals.family_revoked.connect(on_revoked)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            out = _run("--all", "--yes")
    finally:
        signals.family_revoked.disconnect(on_revoked)

    assert out.splitlines() == ["Revoked 5 families of 4 users."]
    assert _live() == set()
    assert sorted(r["family_public_id"] for r in received) == sorted(
        t.family_public_id for t in issued
    )
    assert {r["reason"] for r in received} == {RevocationReason.COMMAND}
    # Revoked for real: the refresh token is refused.
    response = post_json(client, "/auth/refresh/", {"refresh_token": issued[0].refresh_token})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_all_with_nothing_live_prints_zero() -> None:
    assert _run("--all", "--yes").splitlines() == ["Revoked 0 families of 0 users."]


@pytest.mark.parametrize(
    "args",
    [
        ("--all", "--yes", "--user", "alice"),
        ("--family", "x", "--user", "alice"),
        ("--yes",),
        (),
    ],
)
def test_selections_that_do_not_say_one_thing_are_refused(args: tuple[str, ...]) -> None:
    UserFactory(username="alice")
    with pytest.raises(CommandError):
        _run(*args)
