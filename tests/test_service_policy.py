"""Policy lives behind ``tokenauth.service`` (DESIGN §6): code that calls the service directly
(SSO, sign-up, a command) gets the rules HTTP gets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.signals import user_logged_in

from tests.conftest import UNREACHABLE_REDIS
from tokenauth import service
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db

IP = "203.0.113.10"
UA = "pytest"


@pytest.fixture
def cache_down(settings: Any, tokenauth_settings: Any) -> Callable[..., None]:
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS}
    return lambda **values: tokenauth_settings(CACHE_ALIAS="unreachable", **values)


CLOSED = {"ACCESS_TOKEN_REVOCATION": "cache", "CACHE_FAILURE": "closed"}


def test_refresh_in_cache_mode_closed_with_the_cache_down_spends_nothing(
    user: Any, cache_down: Callable[..., None]
) -> None:
    tokens = service.login(user=user, ip=IP, user_agent=UA)
    cache_down(**CLOSED)

    with pytest.raises(service.TemporarilyUnavailable):
        service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)

    assert RefreshTokenFamily.objects.get().generation == 0  # the token is still good


def test_issue_tokens_in_cache_mode_closed_with_the_cache_down_starts_no_family(
    user: Any, cache_down: Callable[..., None]
) -> None:
    cache_down(**CLOSED)

    with pytest.raises(service.TemporarilyUnavailable):
        service.issue_tokens(user=user, ip=IP, user_agent=UA)

    assert not RefreshTokenFamily.objects.exists()


def test_login_in_cache_mode_closed_with_the_cache_down_sends_no_user_logged_in(
    user: Any, cache_down: Callable[..., None]
) -> None:
    cache_down(**CLOSED)
    heard: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        heard.append(kwargs["user"])

    user_logged_in.connect(receiver)
    try:
        with pytest.raises(service.TemporarilyUnavailable):
            service.login(user=user, ip=IP, user_agent=UA)
    finally:
        user_logged_in.disconnect(receiver)

    assert heard == []
    assert not RefreshTokenFamily.objects.exists()


@pytest.mark.parametrize(
    "values",
    [
        {"ACCESS_TOKEN_REVOCATION": "cache", "CACHE_FAILURE": "open"},
        {"ACCESS_TOKEN_REVOCATION": "database"},
        {"ACCESS_TOKEN_REVOCATION": "none"},
    ],
)
def test_elsewhere_the_service_does_not_need_the_cache(
    user: Any, cache_down: Callable[..., None], values: dict[str, str]
) -> None:
    cache_down(**values)

    tokens = service.issue_tokens(user=user, ip=IP, user_agent=UA)
    service.refresh(refresh_token=tokens.refresh_token, ip=IP, user_agent=UA)

    assert RefreshTokenFamily.objects.get().generation == 1
