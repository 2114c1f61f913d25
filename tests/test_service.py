"""The domain rules of DESIGN §5, through ``tokenauth.service``."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest
from django.utils import timezone

from tests.conftest import IP, NEW_SECRET_KEY, OLD_SECRET_KEY
from tests.factories import UserFactory
from tokenauth import _refresh_tokens, service, signals
from tokenauth._fingerprints import password_version
from tokenauth.access import decode_access_token
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.service import InvalidCredentials, InvalidRefreshToken, IssuedTokens

UA = "Mozilla/5.0 (X11; Linux x86_64) pytest"
T0 = datetime(2031, 3, 1, 12, 0, tzinfo=dt_timezone.utc)  # far from the real clock on purpose
GRACE = timedelta(seconds=10)  # the default REUSE_GRACE_PERIOD
SIGNAL_NAMES = ("token_issued", "token_refreshed", "family_revoked", "refresh_token_reused")


def _login(user: Any, now: datetime, *, ip: str | None = IP, ua: str = UA) -> IssuedTokens:
    return service.login(user=user, ip=ip, user_agent=ua, now=now)


def _refresh(token: str, now: datetime, *, ip: str | None = IP, ua: str = UA) -> IssuedTokens:
    return service.refresh(refresh_token=token, ip=ip, user_agent=ua, now=now)


def _family(tokens: IssuedTokens) -> RefreshTokenFamily:
    return RefreshTokenFamily.objects.get(public_id=tokens.family_public_id)


def _snapshot(tokens: IssuedTokens) -> dict[str, Any]:
    return RefreshTokenFamily.objects.filter(public_id=tokens.family_public_id).values().get()


def _refused_reason(token: str, now: datetime, **kwargs: Any) -> str:
    with pytest.raises(InvalidRefreshToken) as excinfo:
        _refresh(token, now, **kwargs)
    return excinfo.value.reason


def _claims(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _mac(refresh_token: str) -> str:
    return refresh_token.rsplit(".", 1)[1]


@pytest.fixture
def received() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Every tokenauth signal sent during the test, by name, as its keyword arguments."""
    events: dict[str, list[dict[str, Any]]] = {name: [] for name in SIGNAL_NAMES}
    for name in SIGNAL_NAMES:

        def _receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
            kwargs.pop("signal", None)
            events[_name].append(kwargs)

        getattr(signals, name).connect(_receiver, weak=False, dispatch_uid=f"test-{name}")
    yield events
    for name in SIGNAL_NAMES:
        getattr(signals, name).disconnect(dispatch_uid=f"test-{name}")


# --- login and issue ---------------------------------------------------------------------


def test_login_creates_one_family_with_its_fields(user: Any) -> None:
    tokens = _login(user, T0)

    family = _family(tokens)
    assert RefreshTokenFamily.objects.count() == 1
    assert family.user_id == user.pk
    assert family.generation == 0
    assert family.created_at == T0
    assert family.last_used_at == T0
    assert family.idle_expires_at == T0 + timedelta(days=7)
    assert family.absolute_expires_at == T0 + timedelta(days=30)
    assert family.ip_address == IP
    assert family.user_agent == UA
    assert family.password_version == password_version(user.password)
    assert family.revoked_at is None
    assert tokens.refresh_token.startswith("tkrt_")
    assert tokens.access_token_expires_in == 15 * 60
    assert tokens.refresh_token_expires_in == 7 * 86400
    assert _claims(tokens.access_token)["sid"] == family.public_id


def test_database_row_never_holds_the_refresh_token(user: Any) -> None:
    tokens = _login(user, T0)

    stored = " ".join(str(value) for value in _snapshot(tokens).values())
    assert tokens.refresh_token not in stored
    assert _mac(tokens.refresh_token) not in stored
    assert str(user.pk) != _family(tokens).public_id


def test_login_sends_user_logged_in_and_token_issued(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    logged_in: list[Any] = []

    def _on_login(sender: Any, user: Any, **kwargs: Any) -> None:
        logged_in.append(user)

    user_logged_in.connect(_on_login, weak=False, dispatch_uid="test-logged-in")
    try:
        with committed():
            tokens = _login(user, T0)
    finally:
        user_logged_in.disconnect(dispatch_uid="test-logged-in")

    assert logged_in == [user]
    assert received["token_issued"] == [
        {"user_id": user.pk, "family_public_id": tokens.family_public_id}
    ]


def test_login_hands_its_request_to_user_logged_in_untouched(user: Any) -> None:
    request = HttpRequest()
    received: list[Any] = []
    user_logged_in.connect(
        lambda sender, **kw: received.append(kw["request"]), weak=False, dispatch_uid="test-rq"
    )
    try:
        service.login(user=user, ip=IP, user_agent=UA, now=T0, request=request)
        service.login(user=user, ip=IP, user_agent=UA, now=T0)
    finally:
        user_logged_in.disconnect(dispatch_uid="test-rq")

    assert received[0] is request
    assert request.__dict__ == HttpRequest().__dict__  # nothing read into it, nothing set
    assert received[1] is None  # a caller without a request (SSO, a command)


def _raise_on_login(sender: Any, **kwargs: Any) -> None:
    raise RuntimeError("user_logged_in receiver failed")


def test_a_raising_user_logged_in_receiver_leaves_no_family(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    user_logged_in.connect(_raise_on_login, weak=False, dispatch_uid="test-raising-login")
    try:
        with committed(), pytest.raises(RuntimeError):
            _login(user, T0)
    finally:
        user_logged_in.disconnect(dispatch_uid="test-raising-login")

    assert not RefreshTokenFamily.objects.exists()
    assert received["token_issued"] == []


def test_issue_tokens_starts_a_family_without_user_logged_in(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    logged_in: list[Any] = []
    user_logged_in.connect(
        lambda sender, **kw: logged_in.append(kw), weak=False, dispatch_uid="test-li"
    )
    try:
        with committed():
            tokens = service.issue_tokens(user=user, now=T0)
    finally:
        user_logged_in.disconnect(dispatch_uid="test-li")

    assert logged_in == []
    assert _family(tokens).ip_address is None
    assert len(received["token_issued"]) == 1
    assert _refresh(tokens.refresh_token, T0 + timedelta(minutes=1)).refresh_token


def test_login_of_inactive_user_is_refused_and_creates_nothing(db: None) -> None:
    inactive = UserFactory(is_active=False)

    with pytest.raises(InvalidCredentials):
        _login(inactive, T0)

    assert RefreshTokenFamily.objects.count() == 0


def test_login_stores_a_non_ip_as_null_and_cuts_the_user_agent(user: Any) -> None:
    tokens = _login(user, T0, ip="not-an-ip", ua="A\x00" + "b" * 400)

    family = _family(tokens)
    assert family.ip_address is None
    assert family.user_agent == "A" + "b" * 254


# --- rotation ----------------------------------------------------------------------------


def test_refresh_rotates_to_a_new_token_and_generation(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    first = _login(user, T0)

    with committed():
        second = _refresh(first.refresh_token, T0 + timedelta(hours=1))
    third = _refresh(second.refresh_token, T0 + timedelta(hours=2))

    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert _refresh_tokens.parse(second.refresh_token).generation == 1  # type: ignore[union-attr]
    assert _refresh_tokens.parse(third.refresh_token).generation == 2  # type: ignore[union-attr]
    assert {first.family_public_id, second.family_public_id} == {third.family_public_id}
    family = _family(third)
    assert family.generation == 2
    assert family.last_used_at == T0 + timedelta(hours=2)
    assert family.rotated_at == T0 + timedelta(hours=2)
    assert family.idle_expires_at == T0 + timedelta(hours=2, days=7)
    assert family.created_at == T0
    assert received["token_refreshed"] == [
        {
            "user_id": user.pk,
            "family_public_id": first.family_public_id,
            "generation": 1,
            "grace": False,
        }
    ]


def test_refreshed_access_token_verifies(user: Any) -> None:
    now = timezone.now() - timedelta(minutes=1)
    first = _login(user, now)

    second = _refresh(first.refresh_token, now + timedelta(seconds=30))

    claims = decode_access_token(second.access_token)
    assert claims.family_public_id == first.family_public_id
    assert claims.user_id == str(user.pk)


# --- reuse -------------------------------------------------------------------------------


def test_reuse_of_a_spent_token_revokes_the_family_once(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    first = _login(user, T0)
    second = _refresh(first.refresh_token, T0 + timedelta(minutes=1))
    third = _refresh(second.refresh_token, T0 + timedelta(minutes=2))
    reused_at = T0 + timedelta(minutes=3)

    with committed():
        reason = _refused_reason(first.refresh_token, reused_at, ip="198.51.100.7", ua="thief/1.0")

    assert reason == "reused"
    family = _family(first)
    assert family.revoked_at == reused_at
    assert family.revocation_reason == RevocationReason.REUSE_DETECTED
    assert family.reuse_detected_at == reused_at
    assert family.reuse_ip_address == "198.51.100.7"
    assert family.reuse_user_agent == "thief/1.0"
    assert family.generation == 2
    assert received["refresh_token_reused"] == [
        {
            "user_id": user.pk,
            "family_public_id": first.family_public_id,
            "ip": "198.51.100.7",
            "user_agent": "thief/1.0",
        }
    ]
    assert received["family_revoked"] == [
        {
            "user_id": user.pk,
            "family_public_id": first.family_public_id,
            "reason": RevocationReason.REUSE_DETECTED,
        }
    ]

    # The whole family is dead, and presenting spent tokens again signals nothing more.
    with committed():
        assert _refused_reason(third.refresh_token, reused_at + timedelta(seconds=1)) == "revoked"
        _refused_reason(first.refresh_token, reused_at + timedelta(seconds=2))
        _refused_reason(second.refresh_token, reused_at + timedelta(seconds=3))
    assert len(received["refresh_token_reused"]) == 1
    assert len(received["family_revoked"]) == 1
    assert _family(first).reuse_detected_at == reused_at


def test_reuse_revokes_only_that_family(user: Any) -> None:
    mine = _login(user, T0)
    my_other_device = _login(user, T0)
    _refresh(mine.refresh_token, T0 + timedelta(minutes=1))

    _refused_reason(mine.refresh_token, T0 + timedelta(minutes=5))

    assert _family(mine).revoked_at is not None
    assert _family(my_other_device).revoked_at is None


def test_reuse_revocation_commits_although_refresh_raises(
    transactional_db: None, received: dict[str, list[dict[str, Any]]]
) -> None:
    user = UserFactory()
    first = _login(user, T0)
    _refresh(first.refresh_token, T0 + timedelta(minutes=1))

    _refused_reason(first.refresh_token, T0 + timedelta(minutes=5))

    family = _family(first)
    assert family.revocation_reason == RevocationReason.REUSE_DETECTED
    assert len(received["refresh_token_reused"]) == 1


# --- grace -------------------------------------------------------------------------------


def test_grace_replay_returns_the_same_successor_and_changes_no_row(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    now = timezone.now() - timedelta(minutes=2)
    first = _login(user, now)
    second = _refresh(first.refresh_token, now + timedelta(minutes=1))
    before = _snapshot(first)

    with committed():
        replay = _refresh(first.refresh_token, now + timedelta(minutes=1, seconds=5))

    assert replay.refresh_token == second.refresh_token
    assert replay.access_token != second.access_token
    assert decode_access_token(replay.access_token).family_public_id == first.family_public_id
    assert _snapshot(first) == before
    assert received["token_refreshed"] == [
        {
            "user_id": user.pk,
            "family_public_id": first.family_public_id,
            "generation": 1,
            "grace": True,
        }
    ]
    assert received["refresh_token_reused"] == []
    # The family stays one chain: the shared successor rotates normally.
    third = _refresh(second.refresh_token, now + timedelta(minutes=1, seconds=6))
    assert _family(third).generation == 2


def test_grace_replay_does_not_extend_the_window(user: Any) -> None:
    first = _login(user, T0)
    rotated_at = T0 + timedelta(minutes=1)
    _refresh(first.refresh_token, rotated_at)

    _refresh(first.refresh_token, rotated_at + timedelta(seconds=8))
    reason = _refused_reason(first.refresh_token, rotated_at + GRACE)

    assert reason == "reused"
    assert _family(first).revocation_reason == RevocationReason.REUSE_DETECTED


def test_an_older_token_inside_the_window_is_reuse(user: Any) -> None:
    first = _login(user, T0)
    second = _refresh(first.refresh_token, T0 + timedelta(seconds=1))
    _refresh(second.refresh_token, T0 + timedelta(seconds=2))

    reason = _refused_reason(first.refresh_token, T0 + timedelta(seconds=3))

    assert reason == "reused"
    assert _family(first).revocation_reason == RevocationReason.REUSE_DETECTED


@pytest.mark.parametrize(
    ("rotating_ip", "replay_ip", "replay_ua", "grace"),
    [
        pytest.param(IP, IP, UA, True, id="same-client"),
        pytest.param(IP, IP, UA + " other", False, id="other-user-agent"),
        pytest.param("203.0.113.10", "203.0.113.250", UA, True, id="same-ipv4-24"),
        pytest.param("203.0.113.10", "203.0.112.10", UA, False, id="other-ipv4-24"),
        pytest.param("203.0.113.10", "198.51.100.10", UA, False, id="other-ipv4"),
        pytest.param("2001:db8:1:2::1", "2001:db8:1:2:ffff:1:2:3", UA, True, id="same-ipv6-64"),
        pytest.param("2001:db8:1:2::1", "2001:db8:1:3::1", UA, False, id="other-ipv6-64"),
        pytest.param("203.0.113.10", "2001:db8:1:2::1", UA, False, id="ipv4-then-ipv6"),
        pytest.param("203.0.113.10", None, UA, False, id="no-ip"),
        # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: that is the IPv4 address.
        pytest.param("::ffff:203.0.113.10", "::ffff:198.51.100.10", UA, False, id="mapped-other"),
        pytest.param("::ffff:203.0.113.10", "203.0.113.99", UA, True, id="mapped-same-24"),
    ],
)
def test_grace_replay_is_bound_to_agent_and_network(
    user: Any, rotating_ip: str, replay_ip: str | None, replay_ua: str, grace: bool
) -> None:
    first = _login(user, T0, ip=rotating_ip)
    second = _refresh(first.refresh_token, T0 + timedelta(minutes=1), ip=rotating_ip)
    replay_at = T0 + timedelta(minutes=1, seconds=2)

    if grace:
        replay = _refresh(first.refresh_token, replay_at, ip=replay_ip, ua=replay_ua)
        assert replay.refresh_token == second.refresh_token
        assert _family(first).revoked_at is None
    else:
        assert _refused_reason(first.refresh_token, replay_at, ip=replay_ip, ua=replay_ua) == (
            "reused"
        )
        family = _family(first)
        assert family.revocation_reason == RevocationReason.REUSE_DETECTED
        assert family.reuse_user_agent == replay_ua


@pytest.mark.parametrize(
    ("after", "grace"),
    [
        (timedelta(0), True),
        (timedelta(seconds=9, microseconds=999_000), True),
        (GRACE, False),
        (timedelta(seconds=11), False),
        (timedelta(days=3), False),
    ],
)
def test_grace_window_runs_from_the_first_spend(user: Any, after: timedelta, grace: bool) -> None:
    first = _login(user, T0)
    rotated_at = T0 + timedelta(minutes=1)
    second = _refresh(first.refresh_token, rotated_at)

    if grace:
        assert _refresh(first.refresh_token, rotated_at + after).refresh_token == (
            second.refresh_token
        )
        assert _family(first).revoked_at is None
    else:
        assert _refused_reason(first.refresh_token, rotated_at + after) == "reused"
        assert _family(first).revocation_reason == RevocationReason.REUSE_DETECTED


def test_zero_grace_period_disables_grace(
    user: Any, tokenauth_settings: Callable[..., None]
) -> None:
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(0))
    first = _login(user, T0)
    rotated_at = T0 + timedelta(minutes=1)
    _refresh(first.refresh_token, rotated_at)

    reason = _refused_reason(first.refresh_token, rotated_at)

    assert reason == "reused"
    assert _family(first).revocation_reason == RevocationReason.REUSE_DETECTED


def test_a_longer_grace_period_is_honoured(
    user: Any, tokenauth_settings: Callable[..., None]
) -> None:
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(seconds=60))
    first = _login(user, T0)
    rotated_at = T0 + timedelta(minutes=1)
    second = _refresh(first.refresh_token, rotated_at)

    replay = _refresh(first.refresh_token, rotated_at + timedelta(seconds=45))

    assert replay.refresh_token == second.refresh_token


def test_a_family_logged_out_gets_no_grace(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    first = _login(user, T0)
    rotated_at = T0 + timedelta(minutes=1)
    second = _refresh(first.refresh_token, rotated_at)
    logged_out_at = rotated_at + timedelta(seconds=1)
    service.logout(refresh_token=second.refresh_token, ip=IP, user_agent=UA, now=logged_out_at)

    with committed():
        reason = _refused_reason(first.refresh_token, rotated_at + timedelta(seconds=2))

    assert reason != "grace"
    family = _family(first)
    assert family.revocation_reason == RevocationReason.LOGOUT
    assert family.revoked_at == rotated_at + timedelta(seconds=1)
    assert family.reuse_detected_at is None
    assert received["refresh_token_reused"] == []
    with pytest.raises(InvalidRefreshToken):
        _refresh(second.refresh_token, rotated_at + timedelta(seconds=3))


def test_a_family_revoked_by_an_admin_gets_no_grace(user: Any) -> None:
    first = _login(user, T0)
    rotated_at = T0 + timedelta(minutes=1)
    _refresh(first.refresh_token, rotated_at)
    service.revoke_family(
        family_public_id=first.family_public_id, reason=RevocationReason.ADMIN, now=rotated_at
    )

    with pytest.raises(InvalidRefreshToken):
        _refresh(first.refresh_token, rotated_at + timedelta(seconds=1))

    assert _family(first).revocation_reason == RevocationReason.ADMIN


# --- forged tokens -----------------------------------------------------------------------


def _forge(family: RefreshTokenFamily, generation: int, mac: str) -> str:
    return f"tkrt_{family.public_id}.{generation}.{mac}"


@pytest.mark.parametrize(
    "make_forged",
    [
        pytest.param(
            lambda f, t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="flipped-mac-current"
        ),
        pytest.param(lambda f, t: _forge(f, f.generation, "A" * 43), id="named-family-current"),
        pytest.param(lambda f, t: _forge(f, 0, "A" * 43), id="named-family-older-generation"),
        pytest.param(
            lambda f, t: _forge(f, f.generation + 1, _mac(t)), id="current-mac-newer-generation"
        ),
        pytest.param(
            lambda f, t: _refresh_tokens.make_refresh_token(
                family_secret=f.secret, public_id=f.public_id, generation=f.generation + 1
            ),
            id="genuine-mac-newer-generation",
        ),
        pytest.param(
            lambda f, t: _refresh_tokens.make_refresh_token(
                family_secret=f.secret, public_id=f.public_id, generation=9_999_999_999
            ),
            id="genuine-mac-huge-generation",
        ),
        pytest.param(
            lambda f, t: _refresh_tokens.make_refresh_token(
                family_secret=_refresh_tokens.new_family_secret(),
                public_id=f.public_id,
                generation=0,
            ),
            id="other-secret-older-generation",
        ),
        pytest.param(lambda f, t: "tkrt_garbage", id="garbage"),
    ],
)
def test_a_forged_token_revokes_nothing(
    user: Any,
    make_forged: Callable[[RefreshTokenFamily, str], str],
    received: dict[str, list[dict[str, Any]]],
    committed: Callable[[], Any],
) -> None:
    first = _login(user, T0)
    second = _refresh(first.refresh_token, T0 + timedelta(minutes=1))
    forged = make_forged(_family(second), second.refresh_token)
    before = _snapshot(second)
    later = T0 + timedelta(minutes=2)

    with committed():
        with pytest.raises(InvalidRefreshToken) as excinfo:
            _refresh(forged, later)
        service.logout(refresh_token=forged, ip=IP, user_agent=UA, now=later)
        service.revoke_token(token=forged, ip=IP, user_agent=UA, now=later)

    assert excinfo.value.reason in {"forged", "malformed"}
    assert _snapshot(second) == before
    assert received["family_revoked"] == []
    assert received["refresh_token_reused"] == []
    assert _refresh(second.refresh_token, later).refresh_token


def test_a_token_of_an_unknown_family_is_invalid(user: Any) -> None:
    genuine_elsewhere = _refresh_tokens.make_refresh_token(
        family_secret=_refresh_tokens.new_family_secret(),
        public_id=_refresh_tokens.new_public_id(),
        generation=0,
    )

    assert _refused_reason(genuine_elsewhere, T0) == "forged"


# --- expiry ------------------------------------------------------------------------------


def test_idle_expiry_refuses_without_revoking(user: Any) -> None:
    first = _login(user, T0)

    reason = _refused_reason(first.refresh_token, T0 + timedelta(days=7))

    assert reason == "expired"
    family = _family(first)
    assert family.revoked_at is None
    assert family.generation == 0


def test_refresh_slides_the_idle_expiry(user: Any) -> None:
    first = _login(user, T0)
    just_in_time = T0 + timedelta(days=7) - timedelta(seconds=1)

    second = _refresh(first.refresh_token, just_in_time)

    assert _family(second).idle_expires_at == just_in_time + timedelta(days=7)
    assert second.refresh_token_expires_in == 7 * 86400
    assert _refresh(second.refresh_token, T0 + timedelta(days=13)).refresh_token


def test_idle_expiry_never_extends_past_absolute(
    user: Any, tokenauth_settings: Callable[..., None]
) -> None:
    tokenauth_settings(
        REFRESH_TOKEN_IDLE_LIFETIME=timedelta(days=7),
        REFRESH_TOKEN_ABSOLUTE_LIFETIME=timedelta(days=10),
    )
    absolute = T0 + timedelta(days=10)
    first = _login(user, T0)

    second = _refresh(first.refresh_token, T0 + timedelta(days=6))
    assert _family(second).idle_expires_at == absolute
    assert second.refresh_token_expires_in == 4 * 86400
    third = _refresh(second.refresh_token, T0 + timedelta(days=9, hours=23))
    assert _family(third).idle_expires_at == absolute
    assert third.refresh_token_expires_in == 3600

    assert _refused_reason(third.refresh_token, absolute) == "expired"
    assert _family(third).revoked_at is None


def test_access_token_never_outlives_the_family(
    user: Any, tokenauth_settings: Callable[..., None]
) -> None:
    tokenauth_settings(
        ACCESS_TOKEN_LIFETIME=timedelta(minutes=15),
        REFRESH_TOKEN_IDLE_LIFETIME=timedelta(days=7),
        REFRESH_TOKEN_ABSOLUTE_LIFETIME=timedelta(days=7),
    )
    absolute = T0 + timedelta(days=7)
    first = _login(user, T0)

    last = _refresh(first.refresh_token, absolute - timedelta(minutes=5))

    assert _claims(last.access_token)["exp"] == int(absolute.timestamp())
    assert last.access_token_expires_in == 300
    assert last.refresh_token_expires_in == 300


def test_access_token_of_a_short_family_expires_with_it(
    user: Any, tokenauth_settings: Callable[..., None]
) -> None:
    tokenauth_settings(
        ACCESS_TOKEN_LIFETIME=timedelta(minutes=15),
        REFRESH_TOKEN_IDLE_LIFETIME=timedelta(minutes=5),
        REFRESH_TOKEN_ABSOLUTE_LIFETIME=timedelta(minutes=10),
    )

    tokens = _login(user, T0)

    assert _claims(tokens.access_token)["exp"] <= int((T0 + timedelta(minutes=10)).timestamp())
    assert tokens.access_token_expires_in <= 600
    assert tokens.refresh_token_expires_in == 300


def test_expiry_follows_the_clock_when_now_is_not_passed(user: Any) -> None:
    with time_machine.travel(T0, tick=False):
        tokens = service.login(user=user, ip=IP, user_agent=UA)
    with (
        time_machine.travel(T0 + timedelta(days=8), tick=False),
        pytest.raises(InvalidRefreshToken) as excinfo,
    ):
        service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)

    assert excinfo.value.reason == "expired"
    assert _family(tokens).created_at == T0


# --- users -------------------------------------------------------------------------------


def test_an_inactive_user_cannot_refresh_and_the_family_is_revoked(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    tokens = _login(user, T0)
    type(user).objects.filter(pk=user.pk).update(is_active=False)  # no signal

    with committed():
        reason = _refused_reason(tokens.refresh_token, T0 + timedelta(minutes=1))

    assert reason == "inactive_user"
    family = _family(tokens)
    assert family.revocation_reason == RevocationReason.DEACTIVATED
    assert received["family_revoked"][0]["reason"] == RevocationReason.DEACTIVATED


def test_deleting_a_user_deletes_their_families(user: Any) -> None:
    tokens = _login(user, T0)
    other = _login(UserFactory(), T0)

    user.delete()

    assert not RefreshTokenFamily.objects.filter(public_id=tokens.family_public_id).exists()
    assert RefreshTokenFamily.objects.filter(public_id=other.family_public_id).exists()
    with pytest.raises(InvalidRefreshToken):
        _refresh(tokens.refresh_token, T0 + timedelta(minutes=1))


# --- storage -----------------------------------------------------------------------------


def _all_tokenauth_rows() -> int:
    return sum(model.objects.count() for model in apps.get_app_config("tokenauth").get_models())


def test_a_thousand_refreshes_add_no_rows(user: Any) -> None:
    first = _login(user, T0)
    tokens = _refresh(first.refresh_token, T0 + timedelta(seconds=1))
    families_after_first = RefreshTokenFamily.objects.count()
    rows_after_first = _all_tokenauth_rows()

    for step in range(2, 1001):
        tokens = _refresh(tokens.refresh_token, T0 + timedelta(seconds=step))

    assert RefreshTokenFamily.objects.count() == families_after_first == 1
    assert _all_tokenauth_rows() == rows_after_first
    assert _family(tokens).generation == 1000
    # The very first token is still recognised as reuse, a thousand generations later.
    assert _refused_reason(first.refresh_token, T0 + timedelta(hours=1)) == "reused"
    assert _family(tokens).revocation_reason == RevocationReason.REUSE_DETECTED


# --- revocation --------------------------------------------------------------------------


def test_revoke_user_revokes_every_live_family_of_that_user_only(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    a, b = _login(user, T0), _login(user, T0)
    already = _login(user, T0)
    service.revoke_family(family_public_id=already.family_public_id, reason=RevocationReason.LOGOUT)
    stranger = _login(UserFactory(), T0)

    with committed():
        count = service.revoke_user(user=user, reason=RevocationReason.LOGOUT_ALL, now=T0)

    assert count == 2
    assert _family(a).revocation_reason == _family(b).revocation_reason == "logout_all"
    assert _family(already).revocation_reason == RevocationReason.LOGOUT
    assert _family(stranger).revoked_at is None
    # One family_revoked per family, never the stranger's.
    assert sorted(
        (e["user_id"], e["family_public_id"], e["reason"]) for e in received["family_revoked"]
    ) == sorted(
        (user.pk, family.family_public_id, RevocationReason.LOGOUT_ALL) for family in (a, b)
    )
    assert service.revoke_user(user=user, reason=RevocationReason.LOGOUT_ALL) == 0


def test_revoke_family_only_revokes_the_owners_live_family(user: Any) -> None:
    tokens = _login(user, T0)
    stranger = UserFactory()

    assert not service.revoke_family(
        family_public_id=tokens.family_public_id,
        user_pk=stranger.pk,
        reason=RevocationReason.LOGOUT,
    )
    assert _family(tokens).revoked_at is None
    assert service.revoke_family(
        family_public_id=tokens.family_public_id, user_pk=user.pk, reason=RevocationReason.LOGOUT
    )
    assert not service.revoke_family(
        family_public_id=tokens.family_public_id, reason=RevocationReason.ADMIN
    )
    assert _family(tokens).revocation_reason == RevocationReason.LOGOUT


def test_live_families_lists_unrevoked_unexpired_newest_first(user: Any) -> None:
    old = _login(user, T0)
    new = _login(user, T0 + timedelta(days=1))
    revoked = _login(user, T0 + timedelta(days=2))
    service.revoke_family(family_public_id=revoked.family_public_id, reason=RevocationReason.LOGOUT)
    _login(UserFactory(), T0)

    live = [f.public_id for f in service.live_families(user=user, now=T0 + timedelta(days=3))]
    after_idle = [f.public_id for f in service.live_families(user=user, now=T0 + timedelta(days=7))]

    assert live == [new.family_public_id, old.family_public_id]
    assert after_idle == [new.family_public_id]


def test_logout_revokes_the_family_of_a_genuine_token(user: Any) -> None:
    tokens = _login(user, T0)

    service.logout(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA, now=T0)

    assert _family(tokens).revocation_reason == RevocationReason.LOGOUT
    assert _family(tokens).revoked_at == T0


def test_logout_with_a_spent_token_outside_the_window_is_reuse(
    user: Any, received: dict[str, list[dict[str, Any]]], committed: Callable[[], Any]
) -> None:
    first = _login(user, T0)
    _refresh(first.refresh_token, T0 + timedelta(minutes=1))

    with committed():
        service.logout(
            refresh_token=first.refresh_token, ip=IP, user_agent=UA, now=T0 + timedelta(hours=1)
        )

    assert _family(first).revocation_reason == RevocationReason.REUSE_DETECTED
    assert len(received["refresh_token_reused"]) == 1


@pytest.mark.parametrize("token", ["", "garbage", "tkrt_" + "A" * 22 + ".0." + "A" * 43])
def test_logout_with_a_bad_token_is_silent(user: Any, token: str) -> None:
    tokens = _login(user, T0)

    service.logout(refresh_token=token, ip=IP, user_agent=UA, now=T0)

    assert _family(tokens).revoked_at is None


def test_revoke_token_accepts_a_valid_access_token(user: Any) -> None:
    tokens = _login(user, timezone.now())

    service.revoke_token(token=tokens.access_token, ip=IP, user_agent=UA)

    assert _family(tokens).revocation_reason == RevocationReason.LOGOUT


def test_revoke_token_ignores_an_expired_access_token(user: Any) -> None:
    tokens = _login(user, timezone.now() - timedelta(hours=1))

    service.revoke_token(token=tokens.access_token, ip=IP, user_agent=UA)

    assert _family(tokens).revoked_at is None


def test_revoke_token_accepts_a_refresh_token(user: Any) -> None:
    tokens = _login(user, T0)

    service.revoke_token(token=tokens.refresh_token, ip=IP, user_agent=UA, now=T0)

    assert _family(tokens).revocation_reason == RevocationReason.LOGOUT


# --- signals never undo a revocation -----------------------------------------------------


def _boom(sender: Any, **kwargs: Any) -> None:
    raise RuntimeError("receiver failed")


@pytest.fixture
def raising_receivers() -> Iterator[None]:
    for name in SIGNAL_NAMES:
        getattr(signals, name).connect(_boom, weak=False, dispatch_uid=f"test-boom-{name}")
    yield
    for name in SIGNAL_NAMES:
        getattr(signals, name).disconnect(dispatch_uid=f"test-boom-{name}")


@pytest.mark.usefixtures("raising_receivers")
def test_a_raising_receiver_never_undoes_a_revocation(
    user: Any, committed: Callable[[], Any]
) -> None:
    with committed():
        tokens = _login(user, T0)

    with committed():
        revoked = service.revoke_family(
            family_public_id=tokens.family_public_id, reason=RevocationReason.ADMIN, now=T0
        )

    assert revoked is True
    family = _family(tokens)
    assert family.revoked_at == T0
    assert family.revocation_reason == RevocationReason.ADMIN


@pytest.mark.usefixtures("raising_receivers")
def test_a_raising_receiver_never_undoes_a_reuse_revocation(transactional_db: None) -> None:
    user = UserFactory()
    first = _login(user, T0)  # on_commit callbacks run for real here
    second = _refresh(first.refresh_token, T0 + timedelta(minutes=1))

    reason = _refused_reason(first.refresh_token, T0 + timedelta(minutes=5))
    service.revoke_user(user=user, reason=RevocationReason.LOGOUT_ALL)

    assert reason == "reused"
    family = _family(second)
    assert family.revocation_reason == RevocationReason.REUSE_DETECTED
    assert family.reuse_detected_at == T0 + timedelta(minutes=5)


# --- SECRET_KEY rotation -----------------------------------------------------------------


def test_secret_key_rotation_with_fallbacks_keeps_refresh_tokens_valid(
    user: Any, settings: Any
) -> None:
    settings.SECRET_KEY = OLD_SECRET_KEY
    first = _login(user, T0)
    settings.SECRET_KEY = NEW_SECRET_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_SECRET_KEY]

    second = _refresh(first.refresh_token, T0 + timedelta(minutes=1))
    third = _refresh(second.refresh_token, T0 + timedelta(minutes=2))

    family = _family(third)
    assert family.revoked_at is None
    assert family.generation == 2


def test_secret_key_rotation_without_fallbacks_revokes_nothing(user: Any, settings: Any) -> None:
    settings.SECRET_KEY = OLD_SECRET_KEY
    first = _login(user, T0)
    settings.SECRET_KEY = NEW_SECRET_KEY
    settings.SECRET_KEY_FALLBACKS = []

    reason = _refused_reason(first.refresh_token, T0 + timedelta(minutes=1))

    assert reason == "forged"
    assert _family(first).revoked_at is None


def test_a_family_refreshed_during_key_rotation_survives_retiring_the_old_key(
    user: Any, settings: Any
) -> None:
    settings.SECRET_KEY = OLD_SECRET_KEY
    first = _login(user, T0)
    settings.SECRET_KEY = NEW_SECRET_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_SECRET_KEY]
    second = _refresh(first.refresh_token, T0 + timedelta(minutes=1))
    settings.SECRET_KEY_FALLBACKS = []  # rotation over: the old key is retired

    third = _refresh(second.refresh_token, T0 + timedelta(minutes=2))

    assert third.refresh_token != second.refresh_token
    assert _family(third).revoked_at is None


def test_grace_replay_survives_a_secret_key_rotation(user: Any, settings: Any) -> None:
    # A rolling deploy: the first rotation ran on a server with the old key, the retry lands
    # on one with the new key (old one in the fallbacks).
    settings.SECRET_KEY = OLD_SECRET_KEY
    first = _login(user, T0)
    rotated_at = T0 + timedelta(minutes=1)
    second = _refresh(first.refresh_token, rotated_at)
    settings.SECRET_KEY = NEW_SECRET_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_SECRET_KEY]

    replay = _refresh(first.refresh_token, rotated_at + timedelta(seconds=2))

    assert _refresh_tokens.parse(replay.refresh_token).generation == 1  # type: ignore[union-attr]
    assert _family(first).revoked_at is None
    assert second.family_public_id == replay.family_public_id


# --- client input ------------------------------------------------------------------------


@pytest.mark.parametrize("ip", ["not-an-ip", " 203.0.113.10", "203.0.113.10, 10.0.0.1", ""])
def test_refresh_accepts_a_client_ip_that_is_not_an_address(user: Any, ip: str) -> None:
    # DESIGN §2: a value that is not an IP address is stored as NULL, never a crash.
    first = _login(user, T0, ip=ip)

    second = _refresh(first.refresh_token, T0 + timedelta(minutes=1), ip=ip)

    assert _family(second).generation == 1


# --- secrets never leak ------------------------------------------------------------------


def test_issued_tokens_repr_hides_the_raw_tokens(user: Any) -> None:
    tokens = _login(user, T0)

    for text in (repr(tokens), str(tokens)):
        assert tokens.refresh_token not in text
        assert _mac(tokens.refresh_token) not in text
        assert tokens.access_token not in text
        assert tokens.access_token.split(".")[2] not in text
        assert tokens.family_public_id in text


def test_no_raw_token_in_log_records(
    user: Any, caplog: pytest.LogCaptureFixture, committed: Callable[[], Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    now = timezone.now() - timedelta(minutes=5)
    with committed():
        first = _login(user, now)
        second = _refresh(first.refresh_token, now + timedelta(minutes=1))
        grace = _refresh(first.refresh_token, now + timedelta(minutes=1, seconds=1))
        third = _refresh(second.refresh_token, now + timedelta(minutes=2))
        _refused_reason(first.refresh_token, now + timedelta(minutes=3), ua="thief/1.0")
        _refused_reason(third.refresh_token, now + timedelta(minutes=4))
        other = _login(user, now)
        service.logout(refresh_token=other.refresh_token, ip=IP, user_agent=UA)
        service.revoke_token(token=_login(user, now).access_token, ip=IP, user_agent=UA)
        user.set_password("a new password entirely")
        user.save()

    issued = [first, second, grace, third, other]
    secrets = [t.refresh_token for t in issued] + [_mac(t.refresh_token) for t in issued]
    secrets += [t.access_token for t in issued] + [t.access_token.split(".")[2] for t in issued]
    secrets += list(RefreshTokenFamily.objects.values_list("secret", flat=True))
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert any(
        r.levelno == logging.WARNING and first.family_public_id in r.getMessage()
        for r in caplog.records
    )
    for secret in secrets:
        assert secret not in logged
