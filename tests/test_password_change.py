"""A password change stops every token; only tokenauth's own login may rehash (DESIGN §4, §5).

Real HTTP and real hashers: the user logs in while ``WeakPBKDF2PasswordHasher`` is current,
then the deployment raises the iteration count (``StrongPBKDF2PasswordHasher``), so the stored
hash is outdated and Django's next check of the password upgrades it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.test import Client

from tests.conftest import bearer, post_json, requires_redis
from tests.factories import PASSWORD, UserFactory
from tokenauth._fingerprints import password_version
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db

ME, WHOAMI = "/api/me/", "/api/whoami/"
NEW_PASSWORD = "a brand new password"
INVALID_TOKEN = re.compile(
    r'\ABearer realm="api", error="invalid_token", error_description="[^"]+"\Z'
)


class WeakPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Yesterday's iteration count."""

    iterations = 1_000


class StrongPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Today's: Django upgrades a weaker hash of the same algorithm when it checks it."""

    iterations = 2_000


WEAK = f"{__name__}.WeakPBKDF2PasswordHasher"
STRONG = f"{__name__}.StrongPBKDF2PasswordHasher"

MODES = [
    pytest.param(("database", "default"), id="database"),
    pytest.param(("cache", "default"), id="cache-locmem"),
    pytest.param(("cache", "redis"), id="cache-redis", marks=requires_redis),
    pytest.param(("none", "default"), id="none"),
]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, tokenauth_settings: Callable[..., None]) -> str:
    revocation, cache_alias = request.param
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=revocation, CACHE_ALIAS=cache_alias)
    return str(revocation)


@pytest.fixture
def outdated_user(settings: Any) -> Any:
    """A user whose stored hash is current now and outdated once ``raise_iterations()`` ran."""
    settings.PASSWORD_HASHERS = [WEAK]
    return UserFactory(is_staff=True)


@pytest.fixture
def raise_iterations(settings: Any) -> Callable[[], None]:
    def _raise() -> None:
        settings.PASSWORD_HASHERS = [STRONG]

    return _raise


def refresh(client: Client, tokens: dict[str, Any]) -> Any:
    return post_json(client, "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})


def families_of(user: Any) -> list[RefreshTokenFamily]:
    return list(RefreshTokenFamily.objects.filter(user_id=user.pk).order_by("pk"))


def stored_hash(user: Any) -> str:
    return str(get_user_model().objects.values_list("password", flat=True).get(pk=user.pk))


def assert_one_event_per_family(revoked_events: list[dict[str, Any]], user: Any) -> None:
    """One ``family_revoked`` per family of ``user`` (two sessions), reason password_changed."""
    assert sorted(
        (e["user_id"], e["family_public_id"], e["reason"]) for e in revoked_events
    ) == sorted(
        (user.pk, family.public_id, RevocationReason.PASSWORD_CHANGED)
        for family in families_of(user)
    )
    assert len(revoked_events) == 2


def assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert INVALID_TOKEN.match(response["WWW-Authenticate"]), response["WWW-Authenticate"]


def assert_all_revoked_for_a_password_change(
    user: Any, client: Client, sessions: list[dict[str, Any]]
) -> None:
    assert [f.revocation_reason for f in families_of(user)] == [
        RevocationReason.PASSWORD_CHANGED
    ] * len(sessions)
    for tokens in sessions:
        assert refresh(client, tokens).json()["error"] == "invalid_grant"


# --- a real change that looks like a rehash (item 6 a) --------------------------------------


def test_a_new_password_saved_like_a_rehash_revokes_every_family_and_access_token(
    mode: str,
    client: Client,
    outdated_user: Any,
    login: Callable[..., dict[str, Any]],
    raise_iterations: Callable[[], None],
    committed: Callable[[], Any],
    revoked_events: list[dict[str, Any]],
) -> None:
    """``make_password`` + ``save(update_fields=["password"])``: no setter ran, so a change."""
    user = outdated_user
    sessions = [login(user), login(user)]
    raise_iterations()
    user.refresh_from_db()

    with committed():
        user.password = make_password(NEW_PASSWORD)
        user.save(update_fields=["password"])

    assert_one_event_per_family(revoked_events, user)
    for tokens in sessions:
        # /api/me/ loads the user: in ``none`` mode only the pwv check at that load refuses.
        assert_refused(client.get(ME, **bearer(tokens["access_token"])))
    assert_all_revoked_for_a_password_change(user, client, sessions)


# --- a rehash at tokenauth's own login (item 6 b) -------------------------------------------


def test_a_rehash_at_tokenauths_login_revokes_nothing_and_restamps_the_families(
    mode: str,
    client: Client,
    outdated_user: Any,
    login: Callable[..., dict[str, Any]],
    raise_iterations: Callable[[], None],
    revoked_events: list[dict[str, Any]],
) -> None:
    user = outdated_user
    earlier = login(user)
    old_hash = stored_hash(user)
    raise_iterations()

    later = login(user)  # authenticate() upgrades the hash

    new_hash = stored_hash(user)
    assert new_hash != old_hash
    assert new_hash.startswith("pbkdf2_sha256$2000$")
    assert revoked_events == []
    for row in families_of(user):
        assert row.revoked_at is None
        assert row.password_version == password_version(new_hash)
    refreshed = refresh(client, earlier)
    assert refreshed.status_code == 200, refreshed.content
    for tokens in (refreshed.json(), later):
        assert client.get(ME, **bearer(tokens["access_token"])).status_code == 200


def test_a_rehash_at_the_oauth_token_endpoint_revokes_nothing_either(
    client: Client,
    outdated_user: Any,
    login: Callable[..., dict[str, Any]],
    raise_iterations: Callable[[], None],
    revoked_events: list[dict[str, Any]],
) -> None:
    """``token/`` with ``grant_type=password`` shares the login's authenticate() window."""
    user = outdated_user
    earlier = login(user)
    raise_iterations()

    body = {"grant_type": "password", "username": user.username, "password": PASSWORD}
    response = client.post(
        "/auth/token/", urlencode(body), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200, response.content
    assert stored_hash(user).startswith("pbkdf2_sha256$2000$")
    assert revoked_events == []
    assert refresh(client, earlier).status_code == 200


# --- a rehash anywhere else (item 6 c) ------------------------------------------------------


def _session_login(user: Any) -> None:
    assert Client().login(username=user.username, password=PASSWORD)


def _admin_login(user: Any) -> None:
    response = Client().post(
        "/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content  # logged in: off to /admin/


def _authenticate(user: Any) -> None:
    assert authenticate(None, username=user.username, password=PASSWORD) is not None


def _check_password(user: Any) -> None:
    assert get_user_model().objects.get(pk=user.pk).check_password(PASSWORD)


@pytest.mark.parametrize(
    "log_in",
    [_session_login, _admin_login, _authenticate, _check_password],
    ids=["session-login", "admin-login", "authenticate", "check-password"],
)
def test_a_rehash_outside_tokenauths_login_revokes(
    client: Client,
    outdated_user: Any,
    login: Callable[..., dict[str, Any]],
    raise_iterations: Callable[[], None],
    committed: Callable[[], Any],
    revoked_events: list[dict[str, Any]],
    log_in: Callable[[Any], None],
) -> None:
    """tokenauth cannot prove who asked for it: safe over convenient (DESIGN §5)."""
    user = outdated_user
    sessions = [login(user), login(user)]
    old_hash = stored_hash(user)
    raise_iterations()

    with committed():
        log_in(user)

    assert stored_hash(user).startswith("pbkdf2_sha256$2000$")  # Django did rehash
    assert stored_hash(user) != old_hash
    assert_one_event_per_family(revoked_events, user)
    assert_refused(client.get(WHOAMI, **bearer(sessions[0]["access_token"])))
    assert_all_revoked_for_a_password_change(user, client, sessions)


# --- pwv where the user row is at hand (item 7) ---------------------------------------------


def test_a_password_set_by_queryset_update_refuses_old_access_tokens_that_load_the_user(
    mode: str,
    client: Client,
    user: Any,
    login: Callable[..., dict[str, Any]],
    django_assert_max_num_queries: Any,
) -> None:
    """No signal, so no revocation; yet a view that uses the user refuses the token."""
    tokens = login(user)

    get_user_model().objects.filter(pk=user.pk).update(password=make_password(NEW_PASSWORD))

    assert RefreshTokenFamily.objects.get(user_id=user.pk).revoked_at is None
    with django_assert_max_num_queries(1):  # the join (database mode) or the lazy load
        assert_refused(client.get(ME, **bearer(tokens["access_token"])))
    # A view that reads only pk: cache and none modes load nothing, so check nothing.
    whoami = client.get(WHOAMI, **bearer(tokens["access_token"]))
    assert whoami.status_code == (401 if mode == "database" else 200), whoami.content


def test_access_tokens_minted_before_a_rehash_at_login_fail_pwv_until_refreshed(
    mode: str,
    client: Client,
    outdated_user: Any,
    login: Callable[..., dict[str, Any]],
    raise_iterations: Callable[[], None],
) -> None:
    """The accepted price of the re-stamp: the old access token names the old hash."""
    user = outdated_user
    earlier = login(user)
    raise_iterations()
    login(user)  # rehash

    assert_refused(client.get(ME, **bearer(earlier["access_token"])))
    refreshed = refresh(client, earlier)
    assert refreshed.status_code == 200, refreshed.content
    assert client.get(ME, **bearer(refreshed.json()["access_token"])).status_code == 200


def test_pwv_minted_under_a_retired_secret_key_still_passes(
    mode: str, client: Client, user: Any, login: Callable[..., dict[str, Any]], settings: Any
) -> None:
    """Rotating SECRET_KEY logs nobody out: pwv is checked under the fallbacks too."""
    tokens = login(user)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-tests-secret-key-long-enough-for-hmac-0123456789abcdef"

    response = client.get(ME, **bearer(tokens["access_token"]))

    assert response.status_code == 200, response.content
    assert response.json()["username"] == user.username
