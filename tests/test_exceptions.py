"""One ``TokenAuthError`` base for every exception a user can catch, all exported by service."""

from __future__ import annotations

import importlib

import pytest

from tokenauth import keys, service
from tokenauth.access import decode_access_token

PUBLIC_MODULES = (
    "tokenauth.service",
    "tokenauth.authentication",
    "tokenauth.signals",
    "tokenauth.testing",
    "tokenauth.urls",
    "tokenauth.models",
)


def _exported_exceptions() -> list[type[BaseException]]:
    names = [getattr(service, name) for name in service.__all__]
    return [obj for obj in names if isinstance(obj, type) and issubclass(obj, BaseException)]


def test_every_exception_service_exports_is_a_tokenauth_error() -> None:
    exported = _exported_exceptions()

    assert {cls.__name__ for cls in exported} >= {
        "AccessTokenRefused",
        "InvalidAccessToken",
        "InvalidCredentials",
        "InvalidRefreshToken",
        "KeyMaterialError",
        "LoginThrottled",
        "TemporarilyUnavailable",
        "TokenAuthError",
    }
    assert all(issubclass(cls, service.TokenAuthError) for cls in exported), exported


def test_a_forged_access_token_is_caught_as_a_tokenauth_error() -> None:
    with pytest.raises(service.TokenAuthError):
        decode_access_token("not.a.token")


def test_key_material_that_does_not_load_is_a_tokenauth_error_and_still_a_value_error() -> None:
    with pytest.raises(service.KeyMaterialError) as excinfo:
        keys.key_id("HS256", "-----BEGIN PUBLIC KEY-----\nnot a secret\n")

    assert isinstance(excinfo.value, service.TokenAuthError)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_each_public_module_exports_what_its_all_names(module_name: str) -> None:
    module = importlib.import_module(module_name)

    assert module.__all__, module_name
    assert [name for name in module.__all__ if not hasattr(module, name)] == []
