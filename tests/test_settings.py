"""Reading ``TOKENAUTH`` (``tokenauth.settings``): one typed object that follows overrides, and
an E-level value that refuses to run at its first use, never a default in its place.

Servers (gunicorn, uwsgi) never run ``manage.py check``: a value the checks refuse must not
quietly become a default there (DESIGN §2). Warnings never refuse anything.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client, override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import UNREACHABLE_REDIS, post_json, private_pem, public_pem
from tests.factories import PASSWORD
from tokenauth.access import decode_access_token, encode_access_token
from tokenauth.checks import check_settings
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.settings import get_settings

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
DURATIONS = [
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_IDLE_LIFETIME",
    "REFRESH_TOKEN_ABSOLUTE_LIFETIME",
    "REUSE_GRACE_PERIOD",
    "LEEWAY",
]
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
SID = "c2lkLWZvci10ZXN0cy0wMQ"

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_P256 = ec.generate_private_key(ec.SECP256R1())


def _refused(values: dict[str, Any], key: str, check_id: str) -> Any:
    return pytest.param(
        values, key, check_id, id=f"{check_id}-{key}-{next(iter(values.values()))!r}"[:60]
    )


# Every E-level case: (TOKENAUTH values, the key the message names, the check id).
REFUSED = [
    # Each of these used to fall back to a default: audience/issuer checks off, 10 s of grace.
    _refused({"AUDIENCE": b"https://api.example"}, "AUDIENCE", "E002"),
    _refused({"AUDIENCE": {"api", "admin"}}, "AUDIENCE", "E002"),
    _refused({"AUDIENCE": []}, "AUDIENCE", "E002"),
    _refused({"AUDIENCE": ["api", 3]}, "AUDIENCE", "E002"),
    _refused({"AUDIENCE": ["api", ""]}, "AUDIENCE", "E002"),
    _refused({"AUDIENCE": ""}, "AUDIENCE", "E002"),
    _refused({"ISSUER": b"https://issuer.example"}, "ISSUER", "E002"),
    _refused({"ISSUER": ["https://issuer.example"]}, "ISSUER", "E002"),
    _refused({"ISSUER": ""}, "ISSUER", "E002"),
    _refused({"REUSE_GRACE_PERIOD": "0"}, "REUSE_GRACE_PERIOD", "E002"),
    _refused({"REUSE_GRACE_PERIOD": False}, "REUSE_GRACE_PERIOD", "E002"),
    _refused({"REUSE_GRACE_PERIOD": -1}, "REUSE_GRACE_PERIOD", "E002"),
    _refused({"REUSE_GRACE_PERIOD": math.nan}, "REUSE_GRACE_PERIOD", "E002"),
    _refused({"LEEWAY": math.inf}, "LEEWAY", "E002"),
    _refused({"LEEWAY": -timedelta(seconds=1)}, "LEEWAY", "E002"),
    _refused({"ACCESS_TOKEN_LIFETIME": 0}, "ACCESS_TOKEN_LIFETIME", "E002"),
    _refused({"ACCESS_TOKEN_LIFETIME": True}, "ACCESS_TOKEN_LIFETIME", "E002"),
    _refused({"ACCESS_TOKEN_LIFETIME": 1e300}, "ACCESS_TOKEN_LIFETIME", "E002"),
    _refused({"REFRESH_TOKEN_IDLE_LIFETIME": "7 days"}, "REFRESH_TOKEN_IDLE_LIFETIME", "E002"),
    _refused({"ALGORITHM": "none"}, "ALGORITHM", "E002"),
    _refused({"ACCESS_TOKEN_REVOCATION": "redis"}, "ACCESS_TOKEN_REVOCATION", "E002"),
    _refused({"CACHE_FAILURE": "maybe"}, "CACHE_FAILURE", "E002"),
    _refused({"CACHE_ALIAS": 5}, "CACHE_ALIAS", "E002"),
    _refused({"CACHE_ALIAS": None}, "CACHE_ALIAS", "E002"),
    _refused({"CACHE_ALIAS": ""}, "CACHE_ALIAS", "E010"),
    _refused({"CACHE_ALIAS": "nowhere"}, "CACHE_ALIAS", "E010"),
    _refused({"LOGIN_THROTTLE_RATE": "fast"}, "LOGIN_THROTTLE_RATE", "E002"),
    _refused({"LOGIN_THROTTLE_RATE": "0/min"}, "LOGIN_THROTTLE_RATE", "E002"),
    _refused({"SIGNING_KEY": 12345}, "SIGNING_KEY", "E002"),
    _refused({"SIGNING_KEY_ID": 7}, "SIGNING_KEY_ID", "E002"),
    _refused({"SIGNING_KEY_ID": ""}, "SIGNING_KEY_ID", "E002"),
    _refused({"VERIFYING_KEYS": "old-key"}, "VERIFYING_KEYS", "E002"),
    _refused({"ACCESS_TOKEN_LIFETME": timedelta(minutes=5)}, "ACCESS_TOKEN_LIFETME", "E001"),
    _refused(
        {"REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=31)},
        "REFRESH_TOKEN_ABSOLUTE_LIFETIME",
        "E003",
    ),
    _refused({"ALGORITHM": "RS256"}, "SIGNING_KEY", "E004"),
    _refused({"SIGNING_KEY": "k" * 31}, "SIGNING_KEY", "E005"),
    _refused({"VERIFYING_KEYS": [{"kid": "old"}]}, "VERIFYING_KEYS", "E006"),
    _refused({"REFRESH_COOKIE": "on"}, "REFRESH_COOKIE", "E007"),
    _refused({"REFRESH_COOKIE": {"name": "a b;c"}}, "REFRESH_COOKIE", "E007"),
    _refused({"REFRESH_COOKIE": {"secure": "yes"}}, "REFRESH_COOKIE", "E007"),
    _refused({"REFRESH_COOKIE": {"samesite": "strictly"}}, "REFRESH_COOKIE", "E007"),
    _refused({"SIGNING_KEY": private_pem(_RSA)}, "SIGNING_KEY", "E008"),  # a PEM as HS256 secret
    _refused({"ALGORITHM": "RS256", "SIGNING_KEY": private_pem(_P256)}, "SIGNING_KEY", "E008"),
    _refused(
        {"VERIFYING_KEYS": [{"kid": "old", "key": public_pem(_P256), "algorithm": "RS256"}]},
        "VERIFYING_KEYS",
        "E008",
    ),
    _refused({"REFRESH_COOKIE": {"secure": False}}, "REFRESH_COOKIE", "E009"),  # DEBUG is off
    _refused({"ACCESS_TOKEN_CLAIMS": "myapp.claims"}, "ACCESS_TOKEN_CLAIMS", "E011"),
    _refused({"TOKEN_RESPONSE_FIELDS": {"user": 1}}, "TOKEN_RESPONSE_FIELDS", "E011"),
]


def _error(exc: pytest.ExceptionInfo[ImproperlyConfigured]) -> str:
    return str(exc.value)


# --- the settings object follows the setting ----------------------------------------------


def test_get_settings_reflects_overrides(settings: Any) -> None:
    settings.TOKENAUTH = {"ACCESS_TOKEN_LIFETIME": timedelta(minutes=20)}
    assert get_settings().access_token_lifetime == timedelta(minutes=20)

    settings.TOKENAUTH = {"ACCESS_TOKEN_LIFETIME": timedelta(minutes=30), "ISSUER": "https://a"}
    assert get_settings().access_token_lifetime == timedelta(minutes=30)
    assert get_settings().issuer == "https://a"

    with override_settings(TOKENAUTH={"ACCESS_TOKEN_REVOCATION": "none"}):
        assert get_settings().access_token_revocation == "none"
        assert get_settings().access_token_lifetime == timedelta(minutes=15)
    assert get_settings().access_token_revocation == "database"
    assert get_settings().access_token_lifetime == timedelta(minutes=30)


def test_tokenauth_settings_fixture_merges_and_reloads(tokenauth_settings: Any) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION="cache")

    assert get_settings().access_token_revocation == "cache"
    assert get_settings().login_throttle_rate is None  # kept from tests/settings.py


# --- first use refuses; the checks report -------------------------------------------------


@pytest.mark.parametrize(("values", "key", "check_id"), REFUSED)
def test_an_error_refuses_at_first_use_naming_key_and_id(
    settings: Any, values: dict[str, Any], key: str, check_id: str
) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, **values}

    with pytest.raises(ImproperlyConfigured) as raised:
        get_settings()

    assert f"(tokenauth.{check_id})" in _error(raised)
    assert key in _error(raised)
    reported = [message for message in check_settings() if message.id == f"tokenauth.{check_id}"]
    assert reported, "the system checks report what the runtime refuses"
    assert any(key in message.msg for message in reported)


def test_tokenauth_that_is_not_a_dict_refuses(settings: Any) -> None:
    settings.TOKENAUTH = ["ALGORITHM", "HS256"]

    with pytest.raises(ImproperlyConfigured, match=r"TOKENAUTH must be a dict.*tokenauth\.E001"):
        get_settings()
    assert [message.id for message in check_settings()] == ["tokenauth.E001"]


def test_every_error_is_named_at_once(settings: Any) -> None:
    settings.TOKENAUTH = {"AUDIENCE": b"api", "ISSUER": 1, "REUSE_GRACE_PERIOD": "10s"}

    with pytest.raises(ImproperlyConfigured) as raised:
        get_settings()

    for key in ("AUDIENCE", "ISSUER", "REUSE_GRACE_PERIOD"):
        assert f"TOKENAUTH['{key}']" in _error(raised)
    assert _error(raised).count("(tokenauth.E002)") == 3
    assert [message.id for message in check_settings()].count("tokenauth.E002") == 3


def test_a_warning_never_refuses(settings: Any) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=5)}

    assert get_settings().access_token_lifetime == timedelta(seconds=5)
    assert [message.id for message in check_settings()] == ["tokenauth.W001"]


def test_refusal_lifts_when_the_setting_is_fixed(settings: Any) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, "AUDIENCE": b"api"}
    with pytest.raises(ImproperlyConfigured):
        get_settings()

    settings.TOKENAUTH = {**settings.TOKENAUTH, "AUDIENCE": "api"}

    assert get_settings().audience == "api"


def test_e009_follows_debug(settings: Any) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, "REFRESH_COOKIE": {"secure": False}}
    with pytest.raises(ImproperlyConfigured, match=r"tokenauth\.E009"):
        get_settings()

    settings.DEBUG = True

    assert get_settings().refresh_cookie is not None
    assert check_settings() == []


def test_e010_follows_caches(settings: Any) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, "CACHE_ALIAS": "shared"}
    with pytest.raises(ImproperlyConfigured, match=r"'shared'.*tokenauth\.E010"):
        get_settings()

    settings.CACHES = {**settings.CACHES, "shared": LOCMEM}

    assert get_settings().cache_alias == "shared"


# --- through HTTP: the request that first uses the setting refuses ------------------------

HTTP_REFUSED = [
    _refused({"AUDIENCE": {"api", "admin"}}, "AUDIENCE", "E002"),
    _refused({"ISSUER": b"https://issuer.example"}, "ISSUER", "E002"),
    _refused({"REUSE_GRACE_PERIOD": "0"}, "REUSE_GRACE_PERIOD", "E002"),
    _refused({"CACHE_ALIAS": "nowhere"}, "CACHE_ALIAS", "E010"),
    _refused({"LOGIN_THROTTLE_RATE": "lots"}, "LOGIN_THROTTLE_RATE", "E002"),
    _refused({"REFRESH_COOKIE": {"name": "a b;c"}}, "REFRESH_COOKIE", "E007"),
    _refused({"REFRESH_COOKIE": {"secure": False}}, "REFRESH_COOKIE", "E009"),
    _refused({"ALGORITHM": "RS256", "SIGNING_KEY": private_pem(_P256)}, "SIGNING_KEY", "E008"),
]


@pytest.mark.parametrize(("values", "key", "check_id"), HTTP_REFUSED)
def test_login_refuses_to_run_and_starts_no_family(
    client: Client,
    user: Any,
    tokenauth_settings: Any,
    values: dict[str, Any],
    key: str,
    check_id: str,
) -> None:
    tokenauth_settings(**values)

    with pytest.raises(ImproperlyConfigured) as raised:
        post_json(client, "/auth/login/", {"username": user.username, "password": PASSWORD})

    assert f"(tokenauth.{check_id})" in _error(raised)
    assert key in _error(raised)
    assert not RefreshTokenFamily.objects.exists()


@pytest.mark.parametrize(("values", "key", "check_id"), HTTP_REFUSED)
def test_a_protected_view_refuses_to_run(
    client: Client,
    user: Any,
    login: Any,
    tokenauth_settings: Any,
    values: dict[str, Any],
    key: str,
    check_id: str,
) -> None:
    access_token = login(user)["access_token"]
    tokenauth_settings(**values)

    with pytest.raises(ImproperlyConfigured) as raised:
        client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access_token}")

    assert f"(tokenauth.{check_id})" in _error(raised)


def test_an_unloadable_verifying_key_refuses_instead_of_refusing_every_token(
    client: Client, user: Any, login: Any, tokenauth_settings: Any
) -> None:
    # It used to make every access token a 401, as if all of them were forged.
    access_token = login(user)["access_token"]
    bad = [{"kid": "old", "key": public_pem(_P256), "algorithm": "RS256"}]
    tokenauth_settings(VERIFYING_KEYS=bad)

    with pytest.raises(ImproperlyConfigured, match=r"VERIFYING_KEYS.*'old'.*tokenauth\.E008"):
        client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access_token}")


# --- durations as numbers of seconds ------------------------------------------------------


@pytest.mark.parametrize("key", DURATIONS)
@pytest.mark.parametrize("seconds", [3600 * 24 * 30, 1.5, 7 * 86400.0])
def test_a_number_is_seconds_for_every_duration(settings: Any, key: str, seconds: float) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, key: seconds}
    if key == "REFRESH_TOKEN_ABSOLUTE_LIFETIME":  # never shorter than the idle one (E003)
        settings.TOKENAUTH["REFRESH_TOKEN_IDLE_LIFETIME"] = seconds

    assert getattr(get_settings(), key.lower()) == timedelta(seconds=seconds)
    assert not [message for message in check_settings() if message.id == "tokenauth.E002"]


@pytest.mark.parametrize("key", ["REUSE_GRACE_PERIOD", "LEEWAY"])
def test_zero_seconds_turns_grace_and_leeway_off(settings: Any, key: str) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, key: 0}

    assert getattr(get_settings(), key.lower()) == timedelta(0)
    assert check_settings() == []


_DURATION_VALUES = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.timedeltas(),
    st.text(max_size=5),
    st.none(),
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(value=_DURATION_VALUES)
def test_the_checks_and_the_runtime_agree_on_every_grace_period(value: Any) -> None:
    from django.test import override_settings

    with override_settings(TOKENAUTH={"LOGIN_THROTTLE_RATE": None, "REUSE_GRACE_PERIOD": value}):
        errors = [m for m in check_settings() if m.id.startswith("tokenauth.E")]
        try:
            grace = get_settings().reuse_grace_period
        except ImproperlyConfigured as exc:
            assert errors, f"{value!r} refused at runtime but not by the checks"
            assert "REUSE_GRACE_PERIOD" in str(exc)
        else:
            assert not errors, f"{value!r} refused by the checks but run anyway"
            assert isinstance(grace, timedelta) and grace >= timedelta(0)
            assert not isinstance(value, bool)
            expected = value if isinstance(value, timedelta) else timedelta(seconds=value)
            assert grace == expected


def test_an_int_zero_grace_period_really_disables_grace(
    client: Client, user: Any, login: Any, tokenauth_settings: Any
) -> None:
    # It used to be refused by the check and become 10 s of grace in the server.
    tokenauth_settings(REUSE_GRACE_PERIOD=0)
    with time_machine.travel(NOW, tick=False):
        first = login(user)["refresh_token"]
        rotated = post_json(client, "/auth/refresh/", {"refresh_token": first})
        assert rotated.status_code == 200

        replay = post_json(client, "/auth/refresh/", {"refresh_token": first})

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    family = RefreshTokenFamily.objects.get()
    assert family.revocation_reason == RevocationReason.REUSE_DETECTED
    successor = {"refresh_token": rotated.json()["refresh_token"]}
    assert post_json(client, "/auth/refresh/", successor).status_code == 400  # revoked


def test_an_int_access_token_lifetime_is_seconds(
    client: Client, user: Any, login: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(ACCESS_TOKEN_LIFETIME=60)

    body = login(user)

    assert body["expires_in"] == 60
    claims = decode_access_token(body["access_token"])
    assert claims.expires_at - claims.issued_at == 60


# --- AUDIENCE: one string, or a list of them ----------------------------------------------


def _token_for(settings: Any, audience: Any) -> str:
    previous = settings.TOKENAUTH
    settings.TOKENAUTH = {**previous, "AUDIENCE": audience}
    token = encode_access_token(
        user_id="42",
        family_public_id=SID,
        password_version="0123456789",
        now=datetime.now(timezone.utc),
        expires_at=datetime.now(timezone.utc) + timedelta(minutes=5),
    )
    settings.TOKENAUTH = previous
    return token


def test_a_list_of_audiences_is_written_and_enforced(settings: Any) -> None:
    import jwt

    settings.TOKENAUTH = {**settings.TOKENAUTH, "AUDIENCE": ["api", "admin"]}
    ours = _token_for(settings, ["api", "admin"])

    assert jwt.decode(ours, options={"verify_signature": False})["aud"] == ["api", "admin"]
    assert decode_access_token(ours).user_id == "42"
    assert decode_access_token(_token_for(settings, "admin")).user_id == "42"
    assert decode_access_token(_token_for(settings, ["billing", "api"])).user_id == "42"
    assert check_settings() == []


@pytest.mark.parametrize("audience", [None, "billing", ["billing", "reports"]])
def test_a_list_of_audiences_refuses_tokens_for_anyone_else(settings: Any, audience: Any) -> None:
    from tokenauth.access import InvalidAccessToken

    # With audience checks silently off, the token without an ``aud`` went through.
    settings.TOKENAUTH = {**settings.TOKENAUTH, "AUDIENCE": ["api", "admin"]}
    foreign = _token_for(settings, audience)

    with pytest.raises(InvalidAccessToken):
        decode_access_token(foreign)


def test_a_list_of_audiences_over_http(
    client: Client, user: Any, login: Any, settings: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(AUDIENCE=("api", "admin"))
    ours = login(user)["access_token"]
    tokenauth_settings(AUDIENCE="billing")
    foreign = login(user)["access_token"]
    tokenauth_settings(AUDIENCE=("api", "admin"))

    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {ours}").status_code == 200
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {foreign}").status_code == 401


# --- W003: the login throttle on a cache that every process keeps alone -------------------


def _w003(settings: Any, *, rate: Any = "10/min", **tokenauth: Any) -> list[Any]:
    settings.TOKENAUTH = {**settings.TOKENAUTH, "LOGIN_THROTTLE_RATE": rate, **tokenauth}
    return [message for message in check_settings() if message.id == "tokenauth.W003"]


def test_w003_throttle_on_a_locmem_cache_without_debug(settings: Any) -> None:
    settings.DEBUG = False

    (message,) = _w003(settings)

    assert "each process" in message.msg
    assert "'default'" in message.msg
    assert "RedisCache" in (message.hint or "")
    assert get_settings().login_throttle_rate == (10, 60)  # a warning: it runs


def test_w003_throttle_on_a_dummy_cache_counts_nothing(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {**settings.CACHES, "dummy": DUMMY}

    (message,) = _w003(settings, CACHE_ALIAS="dummy")

    assert "nothing is counted" in message.msg
    assert "'dummy'" in message.msg


def test_w003_not_on_a_shared_cache(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {**settings.CACHES, "shared": UNREACHABLE_REDIS}

    assert _w003(settings, CACHE_ALIAS="shared") == []
    assert check_settings() == []


def test_w003_not_with_debug_or_without_the_throttle(settings: Any) -> None:
    settings.DEBUG = True
    assert _w003(settings) == []

    settings.DEBUG = False
    assert _w003(settings, rate=None) == []


def test_w003_and_w002_both_name_a_local_cache_in_cache_mode(settings: Any) -> None:
    settings.DEBUG = False
    # The throttle's default is on, and DPoP's ("allowed": W005, tests/test_dpop_settings.py).
    settings.TOKENAUTH = {"ACCESS_TOKEN_REVOCATION": "cache"}

    assert sorted(message.id for message in check_settings()) == [
        "tokenauth.W002",
        "tokenauth.W003",
        "tokenauth.W005",
    ]


def test_w003_not_when_the_cache_alias_is_unknown(settings: Any) -> None:
    settings.DEBUG = False
    settings.TOKENAUTH = {"LOGIN_THROTTLE_RATE": "10/min", "CACHE_ALIAS": "nowhere"}

    assert [message.id for message in check_settings()] == ["tokenauth.E010"]


def test_the_test_settings_stay_clean_for_manage_py_check() -> None:
    # tests/settings.py: LocMem, DEBUG off, the throttle and DPoP off: no W003, no W005.
    call_command("check")
    assert check_settings() == []


# --- LOGIN_THROTTLE_RATE reads periods as DRF does ----------------------------------------


def _error_ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("10/minute", (10, 60)),
        ("5/second", (5, 1)),
        ("100/hour", (100, 3600)),
        ("1000/day", (1000, 86400)),
        ("10/min", (10, 60)),
    ],
)
def test_drf_style_throttle_rates_are_accepted(
    settings: Any, rate: str, parsed: tuple[int, int]
) -> None:
    settings.TOKENAUTH = {"LOGIN_THROTTLE_RATE": rate}

    assert "tokenauth.E002" not in _error_ids(check_settings())
    assert get_settings().login_throttle_rate == parsed


def test_an_unknown_throttle_period_is_e002(settings: Any) -> None:
    settings.TOKENAUTH = {"LOGIN_THROTTLE_RATE": "10/fortnight"}

    messages = [m for m in check_settings() if m.id == "tokenauth.E002"]

    assert len(messages) == 1
    assert "LOGIN_THROTTLE_RATE" in messages[0].msg
