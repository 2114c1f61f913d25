"""Password changes and deactivation revoke a user's families (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher, PBKDF2PasswordHasher, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.conftest import IP, NEW_SECRET_KEY, OLD_SECRET_KEY, UA
from tests.factories import PASSWORD, UserFactory
from tokenauth import _receivers, service
from tokenauth._fingerprints import password_version
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.service import InvalidRefreshToken, IssuedTokens


class WeakPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Yesterday's iteration count (same algorithm name)."""

    iterations = 1_000


class StrongPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Today's iteration count: Django rehashes a weaker hash at the next login."""

    iterations = 2_000


STRONG = f"{__name__}.StrongPBKDF2PasswordHasher"
MD5 = "django.contrib.auth.hashers.MD5PasswordHasher"


def _login(user: Any) -> IssuedTokens:
    return service.login(user=user, ip=IP, user_agent=UA)


def _refresh(tokens: IssuedTokens) -> IssuedTokens:
    return service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)


def _family(tokens: IssuedTokens) -> RefreshTokenFamily:
    return RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)


def _reasons(*tokens: IssuedTokens) -> list[str]:
    return [_family(t).revocation_reason for t in tokens]


@pytest.fixture
def sessions(user: Any) -> tuple[IssuedTokens, IssuedTokens, IssuedTokens]:
    """Two of the user's families and one of a stranger's."""
    return _login(user), _login(user), _login(UserFactory())


# --- password change ----------------------------------------------------------------------


@pytest.mark.parametrize("update_fields", [None, ["password"], ["password", "email"]])
def test_password_change_revokes_all_the_users_families(
    user: Any,
    sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens],
    update_fields: list[str] | None,
    revoked_events: list[dict[str, Any]],
    committed: Callable[[], Any],
) -> None:
    mine_a, mine_b, stranger = sessions

    with committed():
        user.set_password("a brand new password")
        user.save(update_fields=update_fields)

    assert _reasons(mine_a, mine_b) == [RevocationReason.PASSWORD_CHANGED] * 2
    assert _family(stranger).revoked_at is None
    # One family_revoked per family, with the uniform arguments.
    assert sorted(
        (e["user_id"], e["family_public_id"], e["reason"]) for e in revoked_events
    ) == sorted(
        (user.pk, mine.family_public_id, RevocationReason.PASSWORD_CHANGED)
        for mine in (mine_a, mine_b)
    )
    with pytest.raises(InvalidRefreshToken):
        _refresh(mine_a)


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_a_default_manager_that_hides_the_user_does_not_hide_the_change(
    user: Any,
    sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens],
    hidden_users: None,
    change: str,
    committed: Callable[[], Any],
) -> None:
    """Soft deletion, tenants: the row being overwritten is read through the base manager."""
    mine_a, mine_b, _ = sessions

    with committed():
        if change == "password":
            user.set_password("a brand new password")
        else:
            user.is_active = False
        user.save()

    reason = (
        RevocationReason.PASSWORD_CHANGED if change == "password" else RevocationReason.DEACTIVATED
    )
    assert _reasons(mine_a, mine_b) == [reason] * 2


@pytest.mark.parametrize("change", ["set_password", "set_unusable_password"])
def test_password_change_from_an_outdated_hash_still_revokes(
    db: None, settings: Any, change: str
) -> None:
    # Not a login-time rehash: no hasher upgrade saves a new or an unusable password.
    settings.PASSWORD_HASHERS = [STRONG, MD5]
    user = UserFactory()
    outdated = MD5PasswordHasher().encode(PASSWORD, "salt")
    type(user).objects.filter(pk=user.pk).update(password=outdated)
    user.refresh_from_db()
    tokens = _login(user)

    if change == "set_password":
        user.set_password("a brand new password")
    else:
        user.set_unusable_password()
    user.save(update_fields=["password"])

    assert _family(tokens).revocation_reason == RevocationReason.PASSWORD_CHANGED


# --- deactivation -------------------------------------------------------------------------


@pytest.mark.parametrize("update_fields", [None, ["is_active"], ["is_active", "email"]])
def test_deactivation_revokes_with_reason_deactivated(
    user: Any,
    sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens],
    update_fields: list[str] | None,
    revoked_events: list[dict[str, Any]],
    committed: Callable[[], Any],
) -> None:
    mine_a, mine_b, stranger = sessions

    with committed():
        user.is_active = False
        user.save(update_fields=update_fields)

    assert _reasons(mine_a, mine_b) == [RevocationReason.DEACTIVATED] * 2
    assert _family(stranger).revoked_at is None
    assert sorted(
        (e["user_id"], e["family_public_id"], e["reason"]) for e in revoked_events
    ) == sorted(
        (user.pk, mine.family_public_id, RevocationReason.DEACTIVATED) for mine in (mine_a, mine_b)
    )


def test_deactivation_of_a_freshly_loaded_user_revokes(
    user: Any, sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens]
) -> None:
    mine_a, mine_b, _ = sessions
    loaded = get_user_model().objects.get(pk=user.pk)

    loaded.is_active = False
    loaded.save()

    assert _reasons(mine_a, mine_b) == [RevocationReason.DEACTIVATED] * 2


def test_reactivation_and_unrelated_changes_revoke_nothing(
    user: Any, sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens]
) -> None:
    mine_a, mine_b, _ = sessions

    user.email = "changed@example.com"
    user.first_name = "Changed"
    user.save()
    user.is_active = True
    user.save(update_fields=["is_active"])

    assert _reasons(mine_a, mine_b) == ["", ""]
    assert _refresh(mine_a).refresh_token


def test_saving_unrelated_fields_costs_no_extra_query(
    user: Any,
    sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens],
    django_assert_num_queries: Any,
    revoked_events: list[dict[str, Any]],
    committed: Callable[[], Any],
) -> None:
    mine_a, mine_b, _ = sessions
    user.last_login = timezone.now()

    with committed(), django_assert_num_queries(1):  # the UPDATE of the user row alone
        user.save(update_fields=["last_login"])

    assert _reasons(mine_a, mine_b) == ["", ""]
    assert revoked_events == []


def test_creating_a_user_revokes_nothing(
    user: Any, sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens]
) -> None:
    mine_a, _, _ = sessions

    UserFactory(password="another password")

    assert _family(mine_a).revoked_at is None
    assert RefreshTokenFamily.objects.filter(revoked_at__isnull=False).count() == 0


# --- login-time rehash (in tokenauth's login window; tests/test_password_change.py over HTTP)


def _with_outdated_hash(settings: Any, outdated_hash: Callable[[], str]) -> Any:
    user = UserFactory()
    settings.PASSWORD_HASHERS = [STRONG, MD5]
    type(user).objects.filter(pk=user.pk).update(password=outdated_hash())
    user.refresh_from_db()
    return user


def _fewer_iterations() -> str:
    return WeakPBKDF2PasswordHasher().encode(PASSWORD, "weaksalt1234")


def _other_algorithm() -> str:
    return MD5PasswordHasher().encode(PASSWORD, "md5salt")


OUTDATED_HASHES = [
    pytest.param(_fewer_iterations, id="fewer-iterations"),
    pytest.param(_other_algorithm, id="other-algorithm"),
]


def _check_password(user: Any) -> Any:
    assert user.check_password(PASSWORD)
    return user


def _authenticate(user: Any) -> Any:
    authenticated = authenticate(None, username=user.username, password=PASSWORD)
    assert authenticated is not None
    return authenticated


@pytest.mark.parametrize("outdated_hash", OUTDATED_HASHES)
@pytest.mark.parametrize("log_in", [_check_password, _authenticate], ids=["check", "authenticate"])
def test_a_rehash_in_tokenauths_login_window_restamps_instead_of_revoking(
    db: None,
    settings: Any,
    outdated_hash: Callable[[], str],
    log_in: Callable[[Any], Any],
    revoked_events: list[dict[str, Any]],
    committed: Callable[[], Any],
) -> None:
    user = _with_outdated_hash(settings, outdated_hash)
    old_hash = user.password
    tokens = _login(user)
    other_device = _login(user)

    with committed(), _receivers.tokenauth_login():
        rehashed = log_in(user)

    new_hash = get_user_model().objects.get(pk=user.pk).password
    assert new_hash != old_hash  # Django did upgrade the hash
    assert new_hash.startswith("pbkdf2_sha256$2000$")
    assert revoked_events == []
    for family in (_family(tokens), _family(other_device)):
        assert family.revoked_at is None
        assert family.password_version == password_version(new_hash)
    assert rehashed.check_password(PASSWORD)
    assert _refresh(tokens).refresh_token
    assert _family(tokens).revoked_at is None


def test_rehash_restamps_a_family_stamped_under_a_fallback_key(db: None, settings: Any) -> None:
    settings.SECRET_KEY = OLD_SECRET_KEY
    user = _with_outdated_hash(settings, _fewer_iterations)
    tokens = _login(user)
    settings.SECRET_KEY = NEW_SECRET_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_SECRET_KEY]

    with _receivers.tokenauth_login():
        _check_password(user)

    assert _family(tokens).revoked_at is None
    assert _refresh(tokens).refresh_token
    assert _family(tokens).revoked_at is None


def test_rehash_does_not_restore_a_family_revoked_before(db: None, settings: Any) -> None:
    user = _with_outdated_hash(settings, _fewer_iterations)
    tokens = _login(user)
    service.revoke_family(family_public_id=tokens.family_public_id, reason=RevocationReason.LOGOUT)

    with _receivers.tokenauth_login():
        _check_password(user)

    assert _family(tokens).revocation_reason == RevocationReason.LOGOUT
    with pytest.raises(InvalidRefreshToken):
        _refresh(tokens)


@pytest.mark.parametrize("log_in", [_check_password, _authenticate], ids=["check", "authenticate"])
def test_the_same_rehash_outside_the_window_revokes(
    db: None, settings: Any, log_in: Callable[[Any], Any]
) -> None:
    user = _with_outdated_hash(settings, _fewer_iterations)
    tokens = _login(user)

    log_in(user)

    assert _family(tokens).revocation_reason == RevocationReason.PASSWORD_CHANGED


def test_the_window_closes_when_authenticate_raises(db: None, settings: Any) -> None:
    user = _with_outdated_hash(settings, _fewer_iterations)
    tokens = _login(user)

    with pytest.raises(RuntimeError), _receivers.tokenauth_login():
        raise RuntimeError("a backend failed")
    _check_password(user)

    assert _family(tokens).revocation_reason == RevocationReason.PASSWORD_CHANGED


def test_the_window_still_requires_the_setters_shape(db: None, settings: Any) -> None:
    # set_password() keeps _password set until after the save: a change, window or not.
    user = _with_outdated_hash(settings, _fewer_iterations)
    tokens = _login(user)

    with _receivers.tokenauth_login():
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])

    assert _family(tokens).revocation_reason == RevocationReason.PASSWORD_CHANGED


def test_the_window_admits_one_hash_change(db: None, settings: Any) -> None:
    """A second save in the same login, even shaped like the setter, is a change."""
    user = _with_outdated_hash(settings, _fewer_iterations)
    tokens = _login(user)

    with _receivers.tokenauth_login():
        _check_password(user)
        assert _family(tokens).revoked_at is None  # the rehash: re-stamped
        type(user).objects.filter(pk=user.pk).update(password=_fewer_iterations())
        user.refresh_from_db()
        user.password = make_password("chosen by backend code")
        user.save(update_fields=["password"])

    assert _family(tokens).revocation_reason == RevocationReason.PASSWORD_CHANGED


def test_a_nested_window_ends_with_its_block(db: None, settings: Any) -> None:
    user = _with_outdated_hash(settings, _fewer_iterations)
    tokens = _login(user)

    with _receivers.tokenauth_login():
        with _receivers.tokenauth_login():
            pass
        _check_password(user)  # still inside the outer window
    assert _family(tokens).revoked_at is None
    assert _refresh(tokens).refresh_token


# --- QuerySet.update bypasses signals -----------------------------------------------------


def test_queryset_update_of_password_is_caught_at_the_next_refresh(
    user: Any,
    sessions: tuple[IssuedTokens, IssuedTokens, IssuedTokens],
    revoked_events: list[dict[str, Any]],
    committed: Callable[[], Any],
) -> None:
    mine_a, mine_b, stranger = sessions

    with committed():
        type(user).objects.filter(pk=user.pk).update(password=make_password("changed in bulk"))
    assert _reasons(mine_a, mine_b) == ["", ""]  # no signal: nothing revoked yet
    assert revoked_events == []

    with committed(), pytest.raises(InvalidRefreshToken) as excinfo:
        _refresh(mine_a)

    assert excinfo.value.reason == "password_changed"
    assert _family(mine_a).revocation_reason == RevocationReason.PASSWORD_CHANGED
    assert [e["reason"] for e in revoked_events] == [RevocationReason.PASSWORD_CHANGED]
    assert _refresh(stranger).refresh_token
    with pytest.raises(InvalidRefreshToken):
        _refresh(mine_b)
    assert _family(mine_b).revocation_reason == RevocationReason.PASSWORD_CHANGED


# --- cache mode ---------------------------------------------------------------------------


# --- a save that fails after pre_save leaves no pending revocation ------------------------


def test_a_failed_save_then_an_unrelated_save_revokes_nothing(
    user: Any, revoked_events: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    tokens = service.login(user=user, ip=IP, user_agent=UA)
    other = UserFactory()
    username = user.username

    user.is_active = False  # pre_save notes a deactivation ...
    user.username = other.username  # ... then the UPDATE breaks the unique constraint
    with pytest.raises(IntegrityError), transaction.atomic():
        user.save()

    user.is_active = True
    user.username = username
    user.first_name = "Alice"
    with django_capture_on_commit_callbacks(execute=True):
        user.save(update_fields=["first_name"])

    family = RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)
    assert family.revoked_at is None
    assert family.revocation_reason == ""
    assert revoked_events == []
    assert service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)
