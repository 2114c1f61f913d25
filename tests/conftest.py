from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.db.models import Manager, QuerySet
from django.test import Client

from tests.factories import PASSWORD, UserFactory
from tokenauth import signals

# A client as the service sees one: a documentation address (RFC 5737) and a user agent.
IP = "203.0.113.10"
UA = "pytest-agent/1.0"

requires_server_database = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"),
    reason="needs a server database with row locks: set DATABASE_URL to "
    "postgres://postgres@127.0.0.1:5432/test or mysql://root@127.0.0.1:3306/test "
    "(in-memory SQLite gives threads one shared connection, which is no test of concurrency)",
)
requires_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0"
)


@contextmanager
def lock_timeout(seconds: int) -> Iterator[None]:
    """This thread's connection gives up on a row lock after ``seconds``, with the error a real
    lock wait ends in: PostgreSQL's ``lock_timeout``, InnoDB's ``innodb_lock_wait_timeout``
    (whole seconds, 1 at least; its default is 50)."""
    assert seconds >= 1
    if connection.vendor == "postgresql":
        set_it, reset = f"SET lock_timeout = '{seconds}s'", "RESET lock_timeout"
    elif connection.vendor == "mysql":
        set_it = f"SET SESSION innodb_lock_wait_timeout = {seconds}"
        reset = "SET SESSION innodb_lock_wait_timeout = DEFAULT"
    else:
        raise NotImplementedError(f"no row locks to time out on {connection.vendor}")
    with connection.cursor() as cursor:
        cursor.execute(set_it)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(reset)


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Throttle counters and revocation markers must not leak between tests."""
    caches["default"].clear()
    yield
    caches["default"].clear()


class _HidesEveryUser(Manager[Any]):
    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().none()


@pytest.fixture
def hidden_users(monkeypatch: pytest.MonkeyPatch) -> None:
    """A project's default user manager that filters users out (soft deletion, tenants):
    tokenauth must still see the users it issued tokens to."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    manager = _HidesEveryUser()
    manager.model = user_model
    manager.name = "hidden"
    monkeypatch.setitem(user_model._meta.__dict__, "default_manager", manager)
    assert not user_model._default_manager.exists()


@pytest.fixture
def user(db: None) -> Any:
    return UserFactory()


@pytest.fixture
def client() -> Client:
    return Client()


def post_json(client: Client, url: str, body: Any, **extra: Any) -> Any:
    return client.post(url, body, content_type="application/json", **extra)


@pytest.fixture
def login(client: Client, django_capture_on_commit_callbacks: Any) -> Callable[..., dict[str, Any]]:
    """POST login/ for a user (password from the factory) and return the token body."""

    def _login(user: Any, **extra: Any) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_json(
                client, "/auth/login/", {"username": user.username, "password": PASSWORD}, **extra
            )
        assert response.status_code == 200, response.content
        return response.json()

    return _login


@pytest.fixture
def tokenauth_settings(settings: Any) -> Callable[..., None]:
    """Override some TOKENAUTH keys for one test; the settings object reloads itself."""

    def _override(**values: Any) -> None:
        settings.TOKENAUTH = {**settings.TOKENAUTH, **values}

    return _override


# A Redis cache where nothing listens (port 1): for the outage paths.
UNREACHABLE_REDIS = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": "redis://127.0.0.1:1/0",
}


def private_pem(private_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(private_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def revoked_events() -> Iterator[list[dict[str, Any]]]:
    """Every ``family_revoked`` sent during the test, as its keyword arguments."""
    events: list[dict[str, Any]] = []

    def _receiver(sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal", None)
        events.append(kwargs)

    signals.family_revoked.connect(_receiver, weak=False, dispatch_uid="tests-revoked-events")
    yield events
    signals.family_revoked.disconnect(dispatch_uid="tests-revoked-events")
