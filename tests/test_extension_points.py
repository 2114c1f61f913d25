"""ACCESS_TOKEN_CLAIMS and TOKEN_RESPONSE_FIELDS (DESIGN §9), over HTTP: what a project adds
reaches ``request.auth.extra`` and the token responses; what it may not add mints nothing."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.admin_pages import CHANGELIST, staff
from tests.conftest import BROWSER, COOKIE, post_json, post_login
from tests.factories import PASSWORD, UserFactory
from tests.test_admin_actions import _choose, _confirm
from tokenauth import service, signals, testing
from tokenauth._extensions import RESERVED_RESPONSE_FIELDS
from tokenauth.access import RESERVED_CLAIMS, decode_access_token
from tokenauth.checks import check_settings
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.settings import get_settings


class ClaimsView(APIView):
    """What a project's view sees of the token: its extra claims."""

    def get(self, request: Any) -> Response:
        assert isinstance(request.auth.extra, MappingProxyType)
        return Response({"extra": dict(request.auth.extra), "user": request.user.pk})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("auth/", include("tokenauth.urls")),
    path("api/claims/", ClaimsView.as_view()),
]
pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]

STANDARD_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token_expires_in"}


def roles_claims(user: Any) -> dict[str, object]:
    return {"roles": ["admin"] if user.is_staff else ["reader"], "tenant": 7}


def profile_fields(user: Any) -> dict[str, object]:
    return {"user": {"id": user.pk, "username": user.get_username()}}


# docs/your-code.md's examples, word for word.
def readme_access_token_claims(user: Any) -> dict[str, object]:
    return {"roles": sorted(user.groups.values_list("name", flat=True))}


def readme_token_response_fields(user: Any) -> dict[str, object]:
    return {"user": {"id": user.pk, "username": user.get_username(), "email": user.email}}


def _claims_seen(client: Client, access_token: str) -> dict[str, Any]:
    response = client.get("/api/claims/", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert response.status_code == 200, response.content
    return response.json()["extra"]


def _form(client: Client, body: dict[str, str]) -> Any:
    """An OAuth client library's token request: a form post."""
    form = "application/x-www-form-urlencoded"
    return client.post("/auth/token/", urlencode(body), content_type=form)


@pytest.fixture
def roles(tokenauth_settings: Any) -> None:
    tokenauth_settings(ACCESS_TOKEN_CLAIMS=roles_claims)


@pytest.fixture
def profile(tokenauth_settings: Any) -> None:
    tokenauth_settings(TOKEN_RESPONSE_FIELDS=profile_fields)


# --- ACCESS_TOKEN_CLAIMS ---------------------------------------------------------------


def test_the_readme_examples_work_as_documented(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(
        ACCESS_TOKEN_CLAIMS=f"{__name__}.readme_access_token_claims",
        TOKEN_RESPONSE_FIELDS=f"{__name__}.readme_token_response_fields",
    )
    for name in ("support", "auditor"):
        user.groups.add(Group.objects.create(name=name))

    body = post_login(client, user).json()

    assert body["user"] == {"id": user.pk, "username": user.username, "email": user.email}
    assert _claims_seen(client, body["access_token"]) == {"roles": ["auditor", "support"]}


def test_without_the_hook_request_auth_extra_is_empty(client: Client, user: Any) -> None:
    body = post_login(client, user).json()

    assert _claims_seen(client, body["access_token"]) == {}


def test_a_roles_claim_reaches_request_auth_extra_after_login_refresh_and_grace(
    client: Client, user: Any, roles: None
) -> None:
    user.is_staff = True
    user.save()
    expected = {"roles": ["admin"], "tenant": 7}
    login = post_login(client, user).json()
    assert _claims_seen(client, login["access_token"]) == expected

    refreshed = post_json(client, "/auth/refresh/", {"refresh_token": login["refresh_token"]})
    assert refreshed.status_code == 200
    assert _claims_seen(client, refreshed.json()["access_token"]) == expected

    # A retry of the same token inside the grace window: the same successor, a new access token.
    replay = post_json(client, "/auth/refresh/", {"refresh_token": login["refresh_token"]})
    assert replay.status_code == 200
    assert replay.json()["refresh_token"] == refreshed.json()["refresh_token"]
    assert _claims_seen(client, replay.json()["access_token"]) == expected


def test_the_hook_runs_at_every_mint_so_claims_follow_the_user(
    client: Client, user: Any, roles: None
) -> None:
    login = post_login(client, user).json()
    assert _claims_seen(client, login["access_token"])["roles"] == ["reader"]
    user.is_staff = True
    user.save()

    refreshed = post_json(client, "/auth/refresh/", {"refresh_token": login["refresh_token"]})

    assert _claims_seen(client, refreshed.json()["access_token"])["roles"] == ["admin"]


def test_issue_tokens_and_testing_helper_carry_the_claims(
    client: Client, user: Any, roles: None
) -> None:
    issued = service.issue_tokens(user=user)

    assert _claims_seen(client, issued.access_token) == {"roles": ["reader"], "tenant": 7}
    assert _claims_seen(client, testing.access_token_for(user))["tenant"] == 7


def test_a_dotted_path_is_imported(client: Client, user: Any, tokenauth_settings: Any) -> None:
    tokenauth_settings(ACCESS_TOKEN_CLAIMS=f"{__name__}.roles_claims")

    assert check_settings() == []
    body = post_login(client, user).json()
    assert _claims_seen(client, body["access_token"]) == {"roles": ["reader"], "tenant": 7}


@pytest.mark.parametrize("name", sorted(RESERVED_CLAIMS))
def test_a_reserved_claim_is_refused_and_the_login_leaves_no_family(
    client: Client, user: Any, tokenauth_settings: Any, name: str
) -> None:
    tokenauth_settings(ACCESS_TOKEN_CLAIMS=lambda user: {"roles": [], name: "forged"})

    with pytest.raises(ImproperlyConfigured, match=rf"ACCESS_TOKEN_CLAIMS.*reserved.*\b{name}\b"):
        post_login(client, user)

    assert not RefreshTokenFamily.objects.exists()


def test_a_reserved_claim_is_refused_at_refresh_and_the_rotation_rolls_back(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    login = post_login(client, user).json()
    tokenauth_settings(ACCESS_TOKEN_CLAIMS=lambda user: {"sub": "1"})

    with pytest.raises(ImproperlyConfigured, match="reserved names sub"):
        post_json(client, "/auth/refresh/", {"refresh_token": login["refresh_token"]})

    family = RefreshTokenFamily.objects.get()
    assert (family.generation, family.revoked_at) == (0, None)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (None, "returned a NoneType, not a dict"),
        ([("roles", [])], "returned a list, not a dict"),
        ({1: "x"}, "names that are not strings"),
        ({"at": datetime(2026, 1, 1, tzinfo=timezone.utc)}, "not JSON-serialisable"),
        ({"roles": {"admin"}}, "not JSON-serialisable"),
        ({"score": math.nan}, "not JSON-serialisable"),
        ({"blob": b"\x00"}, "not JSON-serialisable"),
    ],
)
def test_a_bad_return_is_refused_at_mint_time(
    client: Client, user: Any, tokenauth_settings: Any, returned: Any, message: str
) -> None:
    tokenauth_settings(ACCESS_TOKEN_CLAIMS=lambda user: returned)

    with pytest.raises(ImproperlyConfigured, match=f"ACCESS_TOKEN_CLAIMS.*{message}"):
        post_login(client, user)

    assert not RefreshTokenFamily.objects.exists()


def test_claims_too_big_for_a_token_are_refused_at_mint_time(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    # A token that decode would refuse (over 4096 characters) must never be handed out.
    tokenauth_settings(ACCESS_TOKEN_CLAIMS=lambda user: {"roles": ["r" * 40] * 100})

    with pytest.raises(ImproperlyConfigured, match=r"ACCESS_TOKEN_CLAIMS.*too much"):
        post_login(client, user)

    assert not RefreshTokenFamily.objects.exists()


# --- TOKEN_RESPONSE_FIELDS ------------------------------------------------------------


def test_a_profile_is_added_to_the_login_refresh_and_token_responses(
    client: Client, user: Any, profile: None
) -> None:
    expected = {"id": user.pk, "username": user.username}
    login = post_login(client, user).json()
    assert login["user"] == expected
    assert set(login) == {*STANDARD_FIELDS, "refresh_token", "user"}

    refreshed = post_json(client, "/auth/refresh/", {"refresh_token": login["refresh_token"]})
    assert refreshed.json()["user"] == expected

    password_grant = _form(
        client, {"grant_type": "password", "username": user.username, "password": PASSWORD}
    )
    assert password_grant.status_code == 200
    assert password_grant.json()["user"] == expected
    refresh_grant = _form(
        client,
        {"grant_type": "refresh_token", "refresh_token": password_grant.json()["refresh_token"]},
    )
    assert refresh_grant.status_code == 200
    assert refresh_grant.json()["user"] == expected


def test_a_profile_is_added_in_cookie_mode_too(
    client: Client, user: Any, profile: None, tokenauth_settings: Any
) -> None:
    tokenauth_settings(REFRESH_COOKIE={})
    expected = {"id": user.pk, "username": user.username}

    login = post_login(client, user, **BROWSER)
    assert login.status_code == 200
    assert login.json() == {**login.json(), "user": expected}
    assert set(login.json()) == {*STANDARD_FIELDS, "user"}  # still no refresh_token
    assert COOKIE in login.cookies

    refreshed = post_json(client, "/auth/refresh/", {}, **BROWSER)
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {*STANDARD_FIELDS, "user"}
    assert refreshed.json()["user"] == expected


def test_the_profile_is_not_in_the_access_token(client: Client, user: Any, profile: None) -> None:
    body = post_login(client, user).json()

    assert _claims_seen(client, body["access_token"]) == {}


@pytest.mark.parametrize("name", sorted(RESERVED_RESPONSE_FIELDS))
def test_a_reserved_response_field_is_refused_and_the_login_leaves_no_family(
    client: Client, user: Any, tokenauth_settings: Any, name: str
) -> None:
    tokenauth_settings(TOKEN_RESPONSE_FIELDS=lambda user: {name: "x"})

    with pytest.raises(ImproperlyConfigured, match=rf"TOKEN_RESPONSE_FIELDS.*reserved.*\b{name}\b"):
        post_login(client, user)

    assert not RefreshTokenFamily.objects.exists()


def test_a_reserved_response_field_is_refused_in_cookie_mode_too(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    # refresh_token is left out of a cookie-mode body: a hook still may not put one there.
    tokenauth_settings(REFRESH_COOKIE={}, TOKEN_RESPONSE_FIELDS=lambda u: {"refresh_token": "x"})

    with pytest.raises(ImproperlyConfigured, match="reserved names refresh_token"):
        post_login(client, user, **BROWSER)

    assert not RefreshTokenFamily.objects.exists()


def test_a_bad_response_field_value_is_refused_at_mint_time(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(TOKEN_RESPONSE_FIELDS=lambda user: {"joined": user.date_joined})

    with pytest.raises(ImproperlyConfigured, match=r"TOKEN_RESPONSE_FIELDS.*not JSON-serialisable"):
        post_login(client, user)

    assert not RefreshTokenFamily.objects.exists()


# --- checks ---------------------------------------------------------------------------


class _NotCallable:
    pass


@pytest.mark.parametrize("key", ["ACCESS_TOKEN_CLAIMS", "TOKEN_RESPONSE_FIELDS"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tests.test_extension_points.no_such_hook", "cannot be imported"),
        ("no_such_module.hook", "cannot be imported"),
        ("roles_claims", "cannot be imported"),  # no module part
        ("tests.test_extension_points.STANDARD_FIELDS", "must be a callable"),
        (42, "must be a callable"),
        ({"roles": []}, "must be a callable"),  # the claims themselves, not a function
        (_NotCallable(), "must be a callable"),
        (lambda: {}, "cannot be called with the user alone"),
        (lambda user, request: {}, "cannot be called with the user alone"),
    ],
)
def test_a_hook_that_cannot_be_called_is_e011_and_refuses_at_first_use(
    client: Client, user: Any, tokenauth_settings: Any, key: str, value: Any, message: str
) -> None:
    tokenauth_settings(**{key: value})

    found = [(m.id, m.msg) for m in check_settings()]
    assert [id for id, _ in found] == ["tokenauth.E011"]
    assert f"TOKENAUTH['{key}']" in found[0][1]
    assert message in found[0][1]
    with pytest.raises(ImproperlyConfigured, match=rf"{key}.*tokenauth\.E011"):
        get_settings()
    with pytest.raises(ImproperlyConfigured, match="E011"):
        post_login(client, user)
    assert not RefreshTokenFamily.objects.exists()


@pytest.mark.parametrize(
    "hook",
    [roles_claims, lambda user, *rest: {}, lambda user, request=None: {}, lambda *args: {}],
)
def test_a_hook_that_takes_the_user_is_clean(tokenauth_settings: Any, hook: Any) -> None:
    tokenauth_settings(ACCESS_TOKEN_CLAIMS=hook, TOKEN_RESPONSE_FIELDS=hook)

    assert check_settings() == []


# --- signals: the same arguments on every path (DESIGN §9) ------------------------------

SIGNAL_ARGUMENTS = {  # beyond sender, user_id and family_public_id
    "token_issued": set(),
    "token_refreshed": {"generation", "grace"},
    "family_revoked": {"reason"},
    "refresh_token_reused": {"ip", "user_agent"},
}


@pytest.fixture
def sent() -> Any:
    """Every tokenauth signal sent, as (name, kwargs) in order."""
    events: list[tuple[str, dict[str, Any]]] = []
    for name in SIGNAL_ARGUMENTS:

        def _receiver(_name: str = name, **kwargs: Any) -> None:
            kwargs.pop("signal")
            events.append((_name, kwargs))

        getattr(signals, name).connect(_receiver, weak=False, dispatch_uid=f"test-ext-{name}")
    yield events
    for name in SIGNAL_ARGUMENTS:
        getattr(signals, name).disconnect(dispatch_uid=f"test-ext-{name}")


def _taken(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The events so far, emptied; each has exactly its signal's arguments and no token."""
    taken = list(events)
    events.clear()
    for name, kwargs in taken:
        assert set(kwargs) == {"sender", "user_id", "family_public_id"} | SIGNAL_ARGUMENTS[name]
        assert kwargs["sender"] is RefreshTokenFamily
        assert not any("tkrt_" in str(value) or "eyJ" in str(value) for value in kwargs.values())
    return [(name, {k: v for k, v in kw.items() if k != "sender"}) for name, kw in taken]


def _sid(body: dict[str, Any]) -> str:
    """The family public id of a token body (the access token's ``sid``)."""
    return decode_access_token(body["access_token"]).family_public_id


def _bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {body['access_token']}"}


def test_login_refresh_and_grace_signal_with_the_same_arguments(
    client: Client, user: Any, sent: Any, committed: Any
) -> None:
    with committed():
        login = post_login(client, user).json()
    assert _taken(sent) == [("token_issued", {"user_id": user.pk, "family_public_id": _sid(login)})]

    with committed():
        post_json(client, "/auth/refresh/", {"refresh_token": login["refresh_token"]})
    with committed():
        post_json(client, "/auth/refresh/", {"refresh_token": login["refresh_token"]})  # grace

    base = {"user_id": user.pk, "family_public_id": _sid(login), "generation": 1}
    assert _taken(sent) == [
        ("token_refreshed", {**base, "grace": False}),
        ("token_refreshed", {**base, "grace": True}),
    ]


def test_logout_sends_one_family_revoked(
    client: Client, user: Any, sent: Any, committed: Any
) -> None:
    login = post_login(client, user).json()
    sent.clear()

    with committed():
        response = post_json(client, "/auth/logout/", {"refresh_token": login["refresh_token"]})

    assert response.status_code == 204
    assert _taken(sent) == [
        (
            "family_revoked",
            {
                "user_id": user.pk,
                "family_public_id": _sid(login),
                "reason": RevocationReason.LOGOUT,
            },
        )
    ]


def test_logout_all_with_three_families_sends_three_family_revoked(
    client: Client, user: Any, sent: Any, committed: Any
) -> None:
    bodies = [post_login(client, user).json() for _ in range(3)]
    post_login(client, UserFactory())  # a stranger's family: no signal
    sent.clear()

    with committed():
        response = client.post("/auth/logout-all/", **_bearer(bodies[0]))

    assert response.status_code == 204
    taken = _taken(sent)
    assert sorted(taken, key=lambda event: event[1]["family_public_id"]) == sorted(
        (
            (
                "family_revoked",
                {"user_id": user.pk, "family_public_id": _sid(body), "reason": "logout_all"},
            )
            for body in bodies
        ),
        key=lambda event: event[1]["family_public_id"],
    )


def test_reuse_sends_refresh_token_reused_with_the_attempts_ip_and_agent(
    client: Client, user: Any, sent: Any, committed: Any
) -> None:
    login = post_login(client, user).json()
    post_json(client, "/auth/refresh/", {"refresh_token": login["refresh_token"]})
    sent.clear()
    thief = {"REMOTE_ADDR": "198.51.100.7", "HTTP_USER_AGENT": "thief/1.0"}

    with committed():
        response = post_json(
            client, "/auth/refresh/", {"refresh_token": login["refresh_token"]}, **thief
        )

    assert response.status_code == 400
    ids = {"user_id": user.pk, "family_public_id": _sid(login)}
    assert sorted(_taken(sent)) == [
        ("family_revoked", {**ids, "reason": RevocationReason.REUSE_DETECTED}),
        ("refresh_token_reused", {**ids, "ip": "198.51.100.7", "user_agent": "thief/1.0"}),
    ]


def test_a_password_change_sends_one_family_revoked_per_family(
    client: Client, user: Any, sent: Any, committed: Any
) -> None:
    bodies = [post_login(client, user).json() for _ in range(2)]
    sent.clear()

    with committed():
        user.set_password("a brand new password")
        user.save()

    assert sorted(_taken(sent), key=lambda event: event[1]["family_public_id"]) == sorted(
        (
            (
                "family_revoked",
                {"user_id": user.pk, "family_public_id": _sid(body), "reason": "password_changed"},
            )
            for body in bodies
        ),
        key=lambda event: event[1]["family_public_id"],
    )


def test_an_admin_revoke_sends_one_family_revoked_per_family(
    client: Client, user: Any, sent: Any, committed: Any
) -> None:
    bodies = [post_login(client, user).json() for _ in range(2)]
    families = list(RefreshTokenFamily.objects.order_by("pk"))
    revoker = staff("view_refreshtokenfamily", "revoke_refreshtokenfamily")
    page = _choose(revoker, "revoke_sessions", families)
    sent.clear()

    with committed():
        response = _confirm(revoker, page)

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert sorted(_taken(sent), key=lambda event: event[1]["family_public_id"]) == sorted(
        (
            (
                "family_revoked",
                {"user_id": user.pk, "family_public_id": _sid(body), "reason": "admin"},
            )
            for body in bodies
        ),
        key=lambda event: event[1]["family_public_id"],
    )
