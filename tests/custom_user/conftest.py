"""Fixtures for whichever custom user model this process runs under."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.factories import PASSWORD

# test_email_user.py is about EmailUser's own shape; every model runs test_custom_user.py.
collect_ignore = (
    [] if settings.AUTH_USER_MODEL == "email_user.EmailUser" else ["test_email_user.py"]
)

USERNAME = "alice@example.com"  # a valid value of every model's USERNAME_FIELD


def create_user(username: str = USERNAME, **extra: Any) -> Any:
    """A user of the process's model, by keywords every manager's ``create_user`` takes."""
    model = get_user_model()
    return model.objects.create_user(
        **{model.USERNAME_FIELD: username, "password": PASSWORD}, **extra
    )


def credentials(username: str = USERNAME) -> dict[str, str]:
    """A login body: the model's USERNAME_FIELD names the field (DESIGN §3)."""
    return {get_user_model().USERNAME_FIELD: username, "password": PASSWORD}


@pytest.fixture
def custom_user(db: None) -> Any:
    return create_user()
