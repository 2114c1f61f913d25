"""DPOP, DPOP_ALGORITHMS, DPOP_NONCE, DPOP_PROOF_MAX_AGE (DESIGN §8): parsed, checked, and
refused at first use when a value would weaken the proof checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import UNREACHABLE_REDIS
from tokenauth import checks
from tokenauth.checks import check_settings
from tokenauth.settings import get_settings

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}


def _ids(settings: Any, **tokenauth: Any) -> list[str]:
    """The check ids on a shared cache (configured, never connected): no W003 or W005."""
    settings.CACHES = {**settings.CACHES, "default": UNREACHABLE_REDIS}
    settings.TOKENAUTH = {"LOGIN_THROTTLE_RATE": None, **tokenauth}
    return sorted(message.id for message in check_settings())


def test_the_defaults_are_design_8s(settings: Any) -> None:
    settings.TOKENAUTH = {}

    conf = get_settings()

    assert conf.dpop == "allowed"
    assert conf.dpop_algorithms == ("ES256", "EdDSA", "RS256", "PS256")
    assert conf.dpop_nonce is False
    assert conf.dpop_proof_max_age == timedelta(seconds=60)


def test_each_value_is_read(tokenauth_settings: Any) -> None:
    tokenauth_settings(
        DPOP="required",
        DPOP_ALGORITHMS=["ES384", "PS512", "ES384"],
        DPOP_NONCE=True,
        DPOP_PROOF_MAX_AGE=30,  # seconds, as every duration
    )

    conf = get_settings()

    assert conf.dpop == "required"
    assert conf.dpop_algorithms == ("ES384", "PS512")  # the order given, each once
    assert conf.dpop_nonce is True
    assert conf.dpop_proof_max_age == timedelta(seconds=30)


@pytest.mark.parametrize("mode", ["off", "allowed", "required"])
def test_the_three_modes(tokenauth_settings: Any, mode: str) -> None:
    tokenauth_settings(DPOP=mode)

    assert get_settings().dpop == mode


# --- refused values: a check id at check time, ImproperlyConfigured at first use -----------

REFUSED = [
    ({"DPOP": "on"}, "DPOP", "E002"),
    ({"DPOP": True}, "DPOP", "E002"),  # True would not say which of allowed/required
    ({"DPOP": None}, "DPOP", "E002"),
    ({"DPOP": "Required"}, "DPOP", "E002"),
    ({"DPOP_NONCE": 1}, "DPOP_NONCE", "E002"),
    ({"DPOP_NONCE": "yes"}, "DPOP_NONCE", "E002"),
    ({"DPOP_NONCE": None}, "DPOP_NONCE", "E002"),
    ({"DPOP_PROOF_MAX_AGE": 0}, "DPOP_PROOF_MAX_AGE", "E002"),
    ({"DPOP_PROOF_MAX_AGE": -timedelta(seconds=1)}, "DPOP_PROOF_MAX_AGE", "E002"),
    ({"DPOP_PROOF_MAX_AGE": "60"}, "DPOP_PROOF_MAX_AGE", "E002"),
    ({"DPOP_PROOF_MAX_AGE": True}, "DPOP_PROOF_MAX_AGE", "E002"),
    ({"DPOP_PROOF_MAX_AGE": float("inf")}, "DPOP_PROOF_MAX_AGE", "E002"),
    ({"DPOP_ALGORITHMS": "ES256"}, "DPOP_ALGORITHMS", "E002"),  # a string, not a list
    ({"DPOP_ALGORITHMS": ["ES256", 7]}, "DPOP_ALGORITHMS", "E002"),
    ({"DPOP_ALGORITHMS": None}, "DPOP_ALGORITHMS", "E002"),
    ({"DPOP_ALGORITHMS": []}, "DPOP_ALGORITHMS", "E012"),
    ({"DPOP_ALGORITHMS": ["none"]}, "DPOP_ALGORITHMS", "E012"),
    ({"DPOP_ALGORITHMS": ["HS256"]}, "DPOP_ALGORITHMS", "E012"),
    ({"DPOP_ALGORITHMS": ["ES256", "HS512"]}, "DPOP_ALGORITHMS", "E012"),  # never dropped
    ({"DPOP_ALGORITHMS": ["es256"]}, "DPOP_ALGORITHMS", "E012"),
    ({"DPOP_ALGORITHMS": ["ES512"]}, "DPOP_ALGORITHMS", "E012"),  # P-521: not in DESIGN §8
    ({"DPOP_ALGORITHMS": ["ES256K"]}, "DPOP_ALGORITHMS", "E012"),
]


@pytest.mark.parametrize(("values", "key", "check_id"), REFUSED)
def test_a_refused_value_is_its_check_id(
    settings: Any, values: dict[str, Any], key: str, check_id: str
) -> None:
    assert _ids(settings, **values) == [f"tokenauth.{check_id}"]
    (message,) = check_settings()
    assert key in message.msg


@pytest.mark.parametrize(("values", "key", "check_id"), REFUSED)
def test_a_refused_value_refuses_at_first_use(
    settings: Any, values: dict[str, Any], key: str, check_id: str
) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, **values}

    with pytest.raises(ImproperlyConfigured) as raised:
        get_settings()

    assert key in str(raised.value)
    assert f"(tokenauth.{check_id})" in str(raised.value)


def test_e012_names_the_refused_algorithm_and_the_accepted_ones(settings: Any) -> None:
    _ids(settings, DPOP_ALGORITHMS=["ES256", "HS256"])

    (message,) = check_settings()

    assert "'HS256'" in message.msg
    assert "ES256" in message.msg and "PS512" in message.msg


def test_the_id_table_lists_the_dpop_ids() -> None:
    table = checks.__doc__ or ""

    assert "| E012 |" in table
    assert "| W005 |" in table


# --- W005: the replay cache must be shared ------------------------------------------------


def _w005(settings: Any, **tokenauth: Any) -> list[Any]:
    settings.TOKENAUTH = {"LOGIN_THROTTLE_RATE": None, **tokenauth}
    return [message for message in check_settings() if message.id == "tokenauth.W005"]


@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_w005_a_process_local_replay_cache_without_debug(settings: Any, mode: str) -> None:
    settings.DEBUG = False

    (message,) = _w005(settings, DPOP=mode)

    assert "another process" in message.msg
    assert "'default'" in message.msg
    assert "RedisCache" in (message.hint or "")
    assert get_settings().dpop == mode  # a warning: it runs


def test_w005_a_dummy_cache_detects_no_replay(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {**settings.CACHES, "dummy": DUMMY}

    (message,) = _w005(settings, CACHE_ALIAS="dummy")

    assert "no replayed proof is ever detected" in message.msg


def test_w005_not_with_dpop_off_with_debug_or_on_a_shared_cache(settings: Any) -> None:
    settings.DEBUG = False
    assert _w005(settings, DPOP="off") == []

    settings.DEBUG = True
    assert _w005(settings) == []

    settings.DEBUG = False
    assert _ids(settings) == []


def test_the_test_settings_have_dpop_off_and_stay_clean(settings: Any) -> None:
    assert get_settings().dpop == "off"
    assert check_settings() == []
