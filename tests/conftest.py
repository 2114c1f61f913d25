from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection
from django.db.models import Manager, QuerySet
from django.test import Client

from tests.factories import PASSWORD, UserFactory
from tokenauth import signals

# A client as the service sees one: a documentation address (RFC 5737) and a user agent.
IP = "203.0.113.10"
UA = "pytest-agent/1.0"
# SECRET_KEY rotation: the key before and the key after (tests.settings has a third).
OLD_SECRET_KEY = "old-tests-secret-key-that-is-long-enough-for-hmac-0123456789"
NEW_SECRET_KEY = "new-tests-secret-key-that-is-long-enough-for-hmac-9876543210"
START = datetime(2030, 1, 1, tzinfo=timezone.utc)  # on a minute boundary: one throttle window
FORM = "application/x-www-form-urlencoded"
TOKEN_URLS = ["/auth/login/", "/auth/refresh/", "/auth/token/", "/auth/logout/", "/auth/revoke/"]
# Cookie mode: what a page's fetch() sends to pass the CSRF rule (DESIGN §3), and the cookie.
BROWSER = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_ORIGIN": "http://testserver"}
COOKIE = "__Secure-tokenauth-refresh"
INVALID_TOKEN_CHALLENGE = re.compile(
    r'\ABearer realm="api", error="invalid_token", error_description="[^"\\]+"\Z'
)

requires_server_database = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"),
    reason="needs a server database with row locks: set DATABASE_URL to "
    "postgres://postgres@127.0.0.1:5432/test or mysql://root@127.0.0.1:3306/test "
    "(in-memory SQLite gives threads one shared connection, which is no test of concurrency)",
)
requires_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0"
)


# The custom-user suite needs AUTH_USER_MODEL set before Django starts: it runs in processes of
# its own (python -m tests.custom_user, part of make test), never in this one.
collect_ignore = ["custom_user"] if django_settings.AUTH_USER_MODEL == "auth.User" else []


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


def post_form(client: Client, url: str, data: dict[str, str], **extra: Any) -> Any:
    return client.post(url, urlencode(data), content_type=FORM, **extra)


def credentials(user: Any, password: str = PASSWORD) -> dict[str, str]:
    return {"username": user.username, "password": password}


def post_login(client: Client, user: Any, password: str = PASSWORD, **extra: Any) -> Any:
    """POST login/ for a user; the response, whatever it is."""
    return post_json(client, "/auth/login/", credentials(user, password), **extra)


def bearer(access_token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access_token}"}


def assert_invalid_token(response: Any) -> None:
    """RFC 6750 §3: a 401 whose challenge says ``invalid_token``, with a description."""
    assert response.status_code == 401, response.content
    assert INVALID_TOKEN_CHALLENGE.match(response["WWW-Authenticate"]), response["WWW-Authenticate"]


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """Time stopped at ``START``; ``clock.shift(timedelta)`` moves it (never ``sleep``)."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def login(client: Client, django_capture_on_commit_callbacks: Any) -> Callable[..., dict[str, Any]]:
    """POST login/ for a user (password from the factory) and return the token body."""

    def _login(user: Any, **extra: Any) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_login(client, user, **extra)
        assert response.status_code == 200, response.content
        return response.json()

    return _login


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """``with committed():`` runs what the block queued for after commit (signals, cache
    markers): the test's own transaction never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


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


# --- live servers ---------------------------------------------------------------------------


@pytest.fixture
def live_server_requests_joined(live_server: Any, transactional_db: None) -> Iterator[None]:
    """Let the live server's request threads end while the test database is still shared.

    A kept-alive connection (one whose response a ``pytest.raises`` cycle holds) keeps its
    server thread waiting; it would wake after the session's live server has stopped sharing
    the in-memory SQLite connection, and fail there. Modules that talk to ``live_server`` use
    it with ``pytest.mark.usefixtures``.
    """
    import gc
    import threading

    yield
    gc.collect()
    for thread in threading.enumerate():
        if thread.name.endswith("(process_request_thread)"):
            thread.join(timeout=5)


@pytest.fixture
def base_url(live_server: Any) -> str:
    """The live server as ``http://127.0.0.1:<port>``: clients outside Django resolve no
    "localhost" to IPv6 by surprise, and the tests allow only loopback."""
    url = str(live_server.url).replace("//localhost:", "//127.0.0.1:")
    assert url.startswith("http://127.0.0.1:"), url
    return url


# --- DPoP -----------------------------------------------------------------------------------


@pytest.fixture
def dpop_allowed(tokenauth_settings: Any) -> None:
    """``DPOP`` "allowed" (tests/settings.py turns it off for everything else)."""
    tokenauth_settings(DPOP="allowed")


@pytest.fixture(scope="module")
def signer() -> Any:
    """One ES256 client key per module (``tests.dpop_proofs.Signer``)."""
    from tests.dpop_proofs import Signer

    return Signer("ES256")
