"""Request bodies: every field is a string, and anything else is a 400 ``invalid_request``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import post_json
from tests.factories import PASSWORD
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db

NOT_STRINGS = [123, 1.5, True, [], ["a"], {}, {"a": "b"}]


@pytest.mark.parametrize("value", NOT_STRINGS, ids=repr)
@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/auth/refresh/", {"refresh_token": "..."}),
        ("/auth/logout/", {"refresh_token": "..."}),
        ("/auth/token/", {"grant_type": "refresh_token", "refresh_token": "..."}),
        ("/auth/token/", {"grant_type": "..."}),
        ("/auth/revoke/", {"token": "..."}),
        ("/auth/revoke/", {"token": "anything", "token_type_hint": "..."}),
        ("/auth/login/", {"username": "...", "password": PASSWORD}),
        ("/auth/login/", {"username": "someone", "password": "..."}),
        ("/auth/token/", {"grant_type": "password", "username": "...", "password": PASSWORD}),
        ("/auth/token/", {"grant_type": "password", "username": "someone", "password": "..."}),
    ],
)
def test_a_field_that_is_no_string_is_invalid_request(
    client: Any, user: Any, login: Any, url: str, body: dict[str, str], value: object
) -> None:
    """A number is not coerced to text: ``{"refresh_token": 123}`` at logout/ was a silent 204
    and ``{"token": 123}`` at revoke/ a silent 200, with nothing revoked and the client none
    the wiser."""
    login(user)
    body = {field: value if given == "..." else given for field, given in body.items()}
    response = post_json(client, url, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    field = next(field for field, given in body.items() if given is value)
    assert field in response.json()["error_description"]
    assert RefreshTokenFamily.objects.filter(revoked_at__isnull=True).count() == 1


def test_the_password_field_of_a_login_is_checked_as_a_string_too(
    client: Any, user: Any, django_user_model: Any
) -> None:
    """A user whose password is digits still logs in with the string, not the number."""
    user.set_password("123456")
    user.save()
    assert (
        post_json(
            client, "/auth/login/", {"username": user.username, "password": 123456}
        ).status_code
        == 400
    )
    response = post_json(client, "/auth/login/", {"username": user.username, "password": "123456"})
    assert response.status_code == 200
