"""System checks: each misconfiguration gets its own ``tokenauth.*`` id, reported, never a crash."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.checks import ERROR, WARNING
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from tests.conftest import UNREACHABLE_REDIS, private_pem, public_pem
from tokenauth import checks
from tokenauth.checks import check_settings
from tokenauth.settings import get_settings

HS256_32 = "k" * 32


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_P256 = ec.generate_private_key(ec.SECP256R1())
_P384 = ec.generate_private_key(ec.SECP384R1())
_SECP256K1 = ec.generate_private_key(ec.SECP256K1())
_ED25519 = ed25519.Ed25519PrivateKey.generate()


def _ids(tokenauth: Any, settings: Any) -> list[str]:
    """The check ids for ``tokenauth``; the login throttle and DPoP are off unless set, since
    on the tests' LocMem cache, with DEBUG off, they are W003 and W005."""
    if isinstance(tokenauth, dict):
        tokenauth = {"LOGIN_THROTTLE_RATE": None, "DPOP": "off", **tokenauth}
    settings.TOKENAUTH = tokenauth
    return sorted(message.id for message in check_settings())


def test_check_command_is_clean_with_the_test_settings() -> None:
    out = StringIO()

    call_command("check", stdout=out)

    assert "no issues" in out.getvalue()
    assert check_settings() == []


@pytest.mark.parametrize("tokenauth", [None, {}])
def test_defaults_and_an_empty_dict_are_clean_on_a_shared_cache(
    settings: Any, tokenauth: Any
) -> None:
    settings.CACHES = {"default": UNREACHABLE_REDIS}  # configuration only: never connected
    settings.TOKENAUTH = tokenauth

    assert check_settings() == []


@pytest.mark.parametrize("tokenauth", [None, {}])
def test_defaults_on_a_local_cache_warn_of_the_throttle_and_the_replay_cache_only(
    settings: Any, tokenauth: Any
) -> None:
    settings.DEBUG = False
    settings.TOKENAUTH = tokenauth

    assert [message.id for message in check_settings()] == ["tokenauth.W003", "tokenauth.W005"]


# --- one id per problem -------------------------------------------------------------------


@pytest.mark.parametrize(
    "tokenauth",
    [
        {"ACCESS_TOKEN_LIFETME": timedelta(minutes=15)},
        {"ALGORITHMS": ["HS256"]},
        {"signing_key": HS256_32},
    ],
)
def test_e001_unknown_key(settings: Any, tokenauth: dict[str, Any]) -> None:
    assert _ids(tokenauth, settings) == ["tokenauth.E001"]
    (message,) = check_settings()
    assert next(iter(tokenauth)) in message.msg
    assert message.level == ERROR


@pytest.mark.parametrize("tokenauth", ["HS256", ["ALGORITHM"], 42])
def test_e001_tokenauth_not_a_dict(settings: Any, tokenauth: Any) -> None:
    assert _ids(tokenauth, settings) == ["tokenauth.E001"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ACCESS_TOKEN_LIFETIME", True),  # a number of seconds is accepted, a bool is not
        ("ACCESS_TOKEN_LIFETIME", timedelta(0)),
        ("ACCESS_TOKEN_LIFETIME", 0),
        ("ACCESS_TOKEN_LIFETIME", "15m"),
        ("REFRESH_TOKEN_IDLE_LIFETIME", "7 days"),
        ("REFRESH_TOKEN_ABSOLUTE_LIFETIME", -timedelta(days=30)),
        ("REUSE_GRACE_PERIOD", "10"),
        ("REUSE_GRACE_PERIOD", float("nan")),
        ("REUSE_GRACE_PERIOD", -0.5),
        ("LEEWAY", -timedelta(seconds=1)),
        ("ALGORITHM", "none"),
        ("ALGORITHM", "HS999"),
        ("ALGORITHM", None),
        ("SIGNING_KEY", 12345),
        ("SIGNING_KEY_ID", 7),
        ("ISSUER", 1),
        ("AUDIENCE", 3.5),
        ("VERIFYING_KEYS", "not-a-list"),
        ("ACCESS_TOKEN_REVOCATION", "redis"),
        ("ACCESS_TOKEN_REVOCATION", True),
        ("CACHE_ALIAS", 5),
        ("CACHE_FAILURE", "maybe"),
        ("LOGIN_THROTTLE_RATE", "fast"),
        ("LOGIN_THROTTLE_RATE", "0/min"),
        ("LOGIN_THROTTLE_RATE", 10),
        ("LOGIN_THROTTLE_RATE", "²/min"),  # a digit to str.isdigit(), not to int()
    ],
)
def test_e002_wrong_type_or_value(settings: Any, key: str, value: Any) -> None:
    settings.CACHES = {"default": UNREACHABLE_REDIS}  # shared: a refused rate is not W003 too

    assert _ids({key: value}, settings) == ["tokenauth.E002"]
    (message,) = check_settings()
    assert key in message.msg


def test_e002_values_are_reported_by_the_checks_and_refused_at_first_use(settings: Any) -> None:
    settings.TOKENAUTH = {"ACCESS_TOKEN_LIFETIME": "15m", "ACCESS_TOKEN_REVOCATION": "redis"}

    assert _ids(settings.TOKENAUTH, settings) == ["tokenauth.E002", "tokenauth.E002"]
    with pytest.raises(ImproperlyConfigured, match=r"ACCESS_TOKEN_LIFETIME.*\n.*REVOCATION"):
        get_settings()


def test_e003_absolute_lifetime_shorter_than_idle(settings: Any) -> None:
    tokenauth = {
        "REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=20),
        "REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=10),
    }

    assert _ids(tokenauth, settings) == ["tokenauth.E003"]
    assert (
        _ids({**tokenauth, "REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=20)}, settings) == []
    )


def test_e003_with_the_default_absolute_lifetime(settings: Any) -> None:
    assert "tokenauth.E003" in _ids({"REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=31)}, settings)


@pytest.mark.parametrize("algorithm", ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"])
def test_e004_asymmetric_algorithm_without_signing_key(settings: Any, algorithm: str) -> None:
    assert _ids({"ALGORITHM": algorithm}, settings) == ["tokenauth.E004"]


@pytest.mark.parametrize(
    ("algorithm", "short", "enough"),
    [
        ("HS256", "k" * 31, "k" * 32),
        ("HS256", b"k" * 31, b"k" * 32),
        ("HS256", "é" * 15 + "k", "é" * 16),  # bytes, not characters: 31 and 32 bytes
        ("HS384", "k" * 47, "k" * 48),
        ("HS512", "k" * 63, "k" * 64),
    ],
)
def test_e005_hmac_key_shorter_than_its_hash(
    settings: Any, algorithm: str, short: str | bytes, enough: str | bytes
) -> None:
    assert _ids({"ALGORITHM": algorithm, "SIGNING_KEY": short}, settings) == ["tokenauth.E005"]
    assert _ids({"ALGORITHM": algorithm, "SIGNING_KEY": enough}, settings) == []


def test_e005_short_hmac_verifying_key(settings: Any) -> None:
    tokenauth = {"VERIFYING_KEYS": [{"kid": "old", "key": "k" * 31}]}

    assert _ids(tokenauth, settings) == ["tokenauth.E005"]
    tokenauth = {"VERIFYING_KEYS": [{"kid": "old", "key": "k" * 63, "algorithm": "HS512"}]}
    assert _ids(tokenauth, settings) == ["tokenauth.E005"]


@pytest.mark.parametrize(
    "entry",
    [
        "a-key",
        {"key": HS256_32},
        {"kid": 1, "key": HS256_32},
        {"kid": "old"},
        {"kid": "old", "key": None},
        {"kid": "old", "key": 12345},
        {"kid": "old", "key": HS256_32, "algorithm": "none"},
        {"kid": "old", "key": HS256_32, "algorithm": "HS1024"},
        {"kid": "", "key": HS256_32},  # an empty kid would become the thumbprint
        {"kid": "old", "key": HS256_32, "alg": "HS512"},  # a typo must not run the default
    ],
)
def test_e006_malformed_verifying_keys_entry(settings: Any, entry: Any) -> None:
    assert _ids({"VERIFYING_KEYS": [entry]}, settings) == ["tokenauth.E006"]


def test_e006_a_kid_used_twice(settings: Any) -> None:
    twice = [{"kid": "old", "key": HS256_32}, {"kid": "old", "key": "q" * 32}]

    assert _ids({"VERIFYING_KEYS": twice}, settings) == ["tokenauth.E006"]


def test_e006_names_the_bad_entry(settings: Any) -> None:
    settings.TOKENAUTH = {
        **settings.TOKENAUTH,
        "VERIFYING_KEYS": [{"kid": "fine", "key": HS256_32}, {"kid": "bad"}],
    }

    (message,) = check_settings()

    assert message.id == "tokenauth.E006"
    assert "[1]" in message.msg


@pytest.mark.parametrize(
    ("algorithm", "signing_key"),
    [
        ("RS256", private_pem(_P256)),  # an EC key for RSA
        ("RS256", private_pem(_ED25519)),
        ("RS256", public_pem(_RSA)),  # a public key where the private one is needed
        ("RS256", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"),
        ("RS256", "just a string, long enough to pass for something"),
        ("PS256", private_pem(_P384)),
        ("ES256", private_pem(_RSA)),
        ("ES256", private_pem(_P384)),  # the wrong curve
        ("ES256", private_pem(_SECP256K1)),  # the wrong 256-bit curve
        ("ES384", private_pem(_P256)),
        ("EdDSA", private_pem(_RSA)),
        ("EdDSA", private_pem(_P256)),
    ],
)
def test_e008_signing_pem_that_does_not_fit_the_algorithm(
    settings: Any, algorithm: str, signing_key: str
) -> None:
    assert _ids({"ALGORITHM": algorithm, "SIGNING_KEY": signing_key}, settings) == [
        "tokenauth.E008"
    ]


@pytest.mark.parametrize(
    ("algorithm", "verifying_key"),
    [
        ("RS256", public_pem(_P256)),
        ("RS256", private_pem(_RSA)),  # a private key where only the public one belongs
        ("ES256", public_pem(_RSA)),
        ("ES256", public_pem(_SECP256K1)),
        ("EdDSA", public_pem(_P256)),
        ("RS256", "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n"),
    ],
)
def test_e008_verifying_pem_that_does_not_fit_its_algorithm(
    settings: Any, algorithm: str, verifying_key: str
) -> None:
    tokenauth = {"VERIFYING_KEYS": [{"kid": "old", "key": verifying_key, "algorithm": algorithm}]}

    assert _ids(tokenauth, settings) == ["tokenauth.E008"]


@pytest.mark.parametrize("pem", [public_pem(_RSA), private_pem(_P256)])
def test_e008_pem_key_used_as_an_hmac_secret(settings: Any, pem: str) -> None:
    # PyJWT refuses a PEM as an HMAC secret when signing: the check must say so before that.
    assert _ids({"ALGORITHM": "HS256", "SIGNING_KEY": pem}, settings) == ["tokenauth.E008"]
    verifying = [{"kid": "old", "key": pem, "algorithm": "HS256"}]
    assert _ids({"VERIFYING_KEYS": verifying}, settings) == ["tokenauth.E008"]


@pytest.mark.parametrize(
    ("algorithm", "private_key"),
    [("RS256", _RSA), ("PS256", _RSA), ("ES256", _P256), ("ES384", _P384), ("EdDSA", _ED25519)],
)
def test_fitting_asymmetric_keys_are_clean(settings: Any, algorithm: str, private_key: Any) -> None:
    tokenauth = {
        "ALGORITHM": algorithm,
        "SIGNING_KEY": private_pem(private_key),
        "VERIFYING_KEYS": [{"kid": "old", "key": public_pem(private_key)}],
    }

    assert _ids(tokenauth, settings) == []


@pytest.mark.parametrize(
    "tokenauth",
    [
        {"ACCESS_TOKEN_LIFETIME": timedelta(seconds=10)},
        {"ACCESS_TOKEN_LIFETIME": timedelta(minutes=14, seconds=59)},
        {"ACCESS_TOKEN_LIFETIME": timedelta(hours=1, seconds=1)},
        {"ACCESS_TOKEN_LIFETIME": timedelta(days=1)},
        {"REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=6)},
        {"REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=31)},
        {"REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=365)},
    ],
)
def test_w001_lifetime_outside_the_advised_range(settings: Any, tokenauth: dict[str, Any]) -> None:
    assert _ids(tokenauth, settings) == ["tokenauth.W001"]
    (message,) = check_settings()
    assert message.level == WARNING


def test_w001_short_lifetimes_for_tests_and_demos_are_warnings_only(settings: Any) -> None:
    tokenauth = {
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=5),
        "REFRESH_TOKEN_IDLE_LIFETIME": timedelta(seconds=30),
        "REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(minutes=1),
    }

    assert set(_ids(tokenauth, settings)) == {"tokenauth.W001"}
    assert all(message.level == WARNING for message in check_settings())


@pytest.mark.parametrize(
    "tokenauth",
    [
        {"ACCESS_TOKEN_LIFETIME": timedelta(minutes=15)},
        {"ACCESS_TOKEN_LIFETIME": timedelta(hours=1)},
        {
            "REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=7),
            "REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=7),
        },
        {
            "REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=30),
            "REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=30),
        },
    ],
)
def test_w001_range_bounds_are_clean(settings: Any, tokenauth: dict[str, Any]) -> None:
    assert _ids(tokenauth, settings) == []


def test_w002_cache_mode_on_locmem_without_debug(settings: Any) -> None:
    settings.DEBUG = False

    assert _ids({"ACCESS_TOKEN_REVOCATION": "cache"}, settings) == ["tokenauth.W002"]
    (message,) = check_settings()
    assert message.level == WARNING


def test_w002_names_the_configured_alias(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {
        **settings.CACHES,
        "shared": UNREACHABLE_REDIS,
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }

    assert _ids({"ACCESS_TOKEN_REVOCATION": "cache", "CACHE_ALIAS": "shared"}, settings) == []
    assert _ids({"ACCESS_TOKEN_REVOCATION": "cache", "CACHE_ALIAS": "local"}, settings) == [
        "tokenauth.W002"
    ]


def test_w002_not_with_debug_or_outside_cache_mode(settings: Any) -> None:
    settings.DEBUG = True
    assert _ids({"ACCESS_TOKEN_REVOCATION": "cache"}, settings) == []

    settings.DEBUG = False
    assert _ids({"ACCESS_TOKEN_REVOCATION": "database"}, settings) == []
    assert _ids({"ACCESS_TOKEN_REVOCATION": "none"}, settings) == []


def test_errors_reach_manage_py_check(settings: Any) -> None:
    from django.core.management.base import SystemCheckError

    settings.TOKENAUTH = {"ALGORITHM": "RS256"}

    with pytest.raises(SystemCheckError, match=r"tokenauth\.E004"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


# --- ids are never reused -----------------------------------------------------------------

_PROBLEMS: dict[str, Any] = {
    "unknown key": {"NOPE": 1},
    "wrong type": {"ACCESS_TOKEN_LIFETIME": "15m"},
    "absolute < idle": {
        "REFRESH_TOKEN_IDLE_LIFETIME": timedelta(days=20),
        "REFRESH_TOKEN_ABSOLUTE_LIFETIME": timedelta(days=10),
    },
    "missing key": {"ALGORITHM": "ES256"},
    "short hmac key": {"SIGNING_KEY": "k" * 31},
    "bad verifying entry": {"VERIFYING_KEYS": [{"kid": "old"}]},
    "bad cookie": {"REFRESH_COOKIE": {"samesite": "sometimes"}},
    "misfitting pem": {"ALGORITHM": "ES256", "SIGNING_KEY": private_pem(_RSA)},
    "insecure cookie": {"REFRESH_COOKIE": {"secure": False}},
    "unknown cache": {"CACHE_ALIAS": "nowhere"},
    "lifetime out of range": {"ACCESS_TOKEN_LIFETIME": timedelta(seconds=10)},
    "local cache": {"ACCESS_TOKEN_REVOCATION": "cache"},
    "throttle on a local cache": {"LOGIN_THROTTLE_RATE": "10/min"},
}


def test_each_problem_has_its_own_id(settings: Any) -> None:
    settings.DEBUG = False
    ids_by_problem = {
        problem: _ids(tokenauth, settings) for problem, tokenauth in _PROBLEMS.items()
    }

    assert all(len(ids) == 1 for ids in ids_by_problem.values()), ids_by_problem
    seen = [ids[0] for ids in ids_by_problem.values()]
    assert len(set(seen)) == len(seen), ids_by_problem


def test_the_id_table_lists_each_id_once_and_every_id_fired() -> None:
    table = re.findall(r"^\| ([EW]\d{3}) \|", checks.__doc__ or "", flags=re.MULTILINE)

    assert len(table) == len(set(table))
    fired = {f"E{n:03}" for n in range(1, 11)} | {"W001", "W002", "W003"}
    assert fired <= set(table)


# --- settings reload ----------------------------------------------------------------------


def test_problems_follow_the_settings(settings: Any) -> None:
    assert _ids({"NOPE": 1}, settings) == ["tokenauth.E001"]

    assert _ids({}, settings) == []


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"isolation_level": "repeatable read"}, "'repeatable read'"),
        ({"isolation_level": "SERIALIZABLE"}, "'SERIALIZABLE'"),
        ({"isolation_level": "read uncommitted"}, "'read uncommitted'"),
        ({"isolation_level": None}, "the server's default"),
    ],
)
def test_w004_mysql_outside_read_committed(options: dict[str, Any], shown: str) -> None:
    (problem,) = checks.isolation_problems("default", "mysql", options)

    assert problem.id == "W004" and not problem.is_error
    assert shown in problem.message
    assert "'read committed'" in problem.hint and "snapshot" in problem.hint


@pytest.mark.parametrize(
    ("vendor", "options"),
    [
        ("mysql", {}),  # Django's default for the backend: read committed
        ("mysql", {"isolation_level": "READ COMMITTED", "charset": "utf8mb4"}),
        ("postgresql", {"isolation_level": None}),  # a psycopg constant, never a MySQL level
        ("sqlite", {}),
    ],
)
def test_w004_is_quiet_under_read_committed_and_off_mysql(
    vendor: str, options: dict[str, Any]
) -> None:
    assert checks.isolation_problems("default", vendor, options) == []


def test_w004_reads_the_database_the_families_are_written_to(settings: Any) -> None:
    from django.db import connections

    connection = connections["default"]
    if connection.vendor != "mysql":
        pytest.skip("the warning is about InnoDB: DATABASE_URL=mysql://... shows it")
    options = connection.settings_dict.setdefault("OPTIONS", {})
    before = dict(options)
    options["isolation_level"] = "repeatable read"
    try:
        found = checks.check_database_isolation()
    finally:
        options.clear()
        options.update(before)

    assert [message.id for message in found] == ["tokenauth.W004"]
    assert checks.check_database_isolation() == []


@pytest.mark.django_db
def test_mysql_connections_run_read_committed() -> None:
    """What W004 protects: the level tokenauth's transactions really run under."""
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("MySQL/MariaDB only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.tx_isolation")
        (level,) = cursor.fetchone()
    assert level == "READ-COMMITTED"


_RSA_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # refused


@pytest.mark.parametrize("algorithm", ["RS256", "PS256"])
def test_e008_an_rsa_key_under_2048_bits(settings: Any, algorithm: str) -> None:
    """RFC 7518 §3.3: whoever factors a 1024-bit key forges tokens for any user."""
    signing = {"ALGORITHM": algorithm, "SIGNING_KEY": private_pem(_RSA_1024)}
    assert _ids(signing, settings) == ["tokenauth.E008"]
    verifying = [{"kid": "old", "key": public_pem(_RSA_1024), "algorithm": algorithm}]
    assert _ids({"VERIFYING_KEYS": verifying}, settings) == ["tokenauth.E008"]


@pytest.mark.parametrize(
    "secret",
    [
        '{"kty": "oct", "k": "' + "x" * 64 + '"}',  # a JWK: PyJWT refuses it as an HMAC secret
    ],
)
def test_e008_an_hmac_secret_pyjwt_would_refuse_at_the_first_mint(
    settings: Any, secret: str
) -> None:
    assert _ids({"ALGORITHM": "HS256", "SIGNING_KEY": secret}, settings) == ["tokenauth.E008"]
    settings.TOKENAUTH = {"ALGORITHM": "HS256", "SIGNING_KEY": secret, "LOGIN_THROTTLE_RATE": None}
    with pytest.raises(ImproperlyConfigured, match="E008"):
        get_settings()
