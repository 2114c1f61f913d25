from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tests.factories import PASSWORD, UserFactory

requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test",
)
requires_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0"
)


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
