"""What a client sent never reaches the ``tokenauth`` log raw: no forged lines, no escapes."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from django.test import Client

from tests.conftest import post_json
from tokenauth.keys import get_key_set

pytestmark = pytest.mark.django_db

HOSTILE = "x\n2030-01-01 INFO tokenauth: family ok revoked\x1b[2J\r\u2028"


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _tokenauth_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("tokenauth")]


def _assert_clean(lines: list[str]) -> None:
    assert lines, "nothing was logged"
    for line in lines:
        assert "\n" not in line and "\r" not in line and "\x1b" not in line, line
        assert "\u2028" not in line, line


def test_a_crit_header_is_logged_escaped(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    # PyJWT reports an unsupported ``crit`` before it checks the signature, quoting it.
    header = {"alg": "HS256", "typ": "at+jwt", "kid": get_key_set().signing.kid, "crit": [HOSTILE]}
    forged = f"{_segment(header)}.{_segment({'sub': '1'})}.c2lnbmF0dXJl"

    with caplog.at_level(logging.DEBUG, logger="tokenauth"):
        response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert response.status_code == 401
    _assert_clean(_tokenauth_lines(caplog))


def test_a_throttled_client_address_is_logged_escaped(
    client: Client, settings: Any, tokenauth_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    tokenauth_settings(LOGIN_THROTTLE_RATE="1/min")
    body = {"username": HOSTILE, "password": HOSTILE}

    with caplog.at_level(logging.DEBUG, logger="tokenauth"):
        for _ in range(2):
            post_json(client, "/auth/login/", body, HTTP_X_FORWARDED_FOR=HOSTILE)

    _assert_clean(_tokenauth_lines(caplog))


def test_a_reuse_attempt_agent_is_logged_escaped(
    client: Client, user: Any, login: Any, caplog: pytest.LogCaptureFixture
) -> None:
    spent = login(user)["refresh_token"]
    assert post_json(client, "/auth/refresh/", {"refresh_token": spent}).status_code == 200

    with caplog.at_level(logging.DEBUG, logger="tokenauth"):
        response = post_json(
            client, "/auth/refresh/", {"refresh_token": spent}, HTTP_USER_AGENT=HOSTILE
        )

    assert response.status_code == 400
    _assert_clean(_tokenauth_lines(caplog))
