"""Schemathesis against the example project's OpenAPI schema (DESIGN §10): served by a live
server on 127.0.0.1, every operation gets generated requests, valid and invalid, and no answer
is a server error or contradicts the schema (status, content type, headers, body), and no
invalid request is accepted.

Bounded: ``TOKENAUTH_FUZZ_EXAMPLES`` examples per operation and mode (default 10; CI runs 30),
derandomized so that a run repeats, no shrinking. The example project's settings (cookie mode,
the login throttle) as in tests/test_demo_page.py.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from example_project import settings as example
from tests.factories import PASSWORD, UserFactory
from tokenauth.testing import access_token_for, tokens_for

schemathesis = pytest.importorskip("schemathesis", reason="needs schemathesis (pip install)")
pytest.importorskip("drf_spectacular", reason="needs drf-spectacular (the openapi extra)")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.strategies import booleans  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.urls("tests.openapi_urls"), pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("TOKENAUTH_FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
# What tokenauth answers to invalid input; schemathesis's default list lacks 413 (a token over
# its maxLength makes a body over 16 KB) and counts a 5xx as a refusal (not_a_server_error
# fails it anyway).
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "413", "415", "429"]
"""


@pytest.fixture
def example_settings(settings: Any) -> None:
    settings.DEBUG = example.DEBUG
    settings.TOKENAUTH = example.TOKENAUTH
    settings.REST_FRAMEWORK = {
        **example.REST_FRAMEWORK,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    }


def make_genuine(case: Any, user: Any) -> None:
    """Put a real user's credentials or a live session's token where the generated case has
    one, so that the answers to genuine requests (token responses, a revoked session) are held
    to the schema too: random ones only ever meet the error paths."""
    body = case.body if isinstance(case.body, dict) else {}
    if "password" in body:
        body.update(username=user.username, password=PASSWORD)
    if "refresh_token" in body:
        body["refresh_token"] = tokens_for(user).refresh_token
    if "token" in body:
        body["token"] = tokens_for(user).access_token
    if "family_public_id" in (case.path_parameters or {}):
        case.path_parameters["family_public_id"] = tokens_for(user).family_public_id


def fuzz(operation: Any, mode: Any, user: Any, base_headers: dict[str, str]) -> None:
    """``EXAMPLES`` generated requests to one operation, each checked; raises what fails."""
    protected = bool(operation.definition.raw.get("security", [{}])[0])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: CI repeats, and so does a failure
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), genuine=booleans())
    def call(case: Any, genuine: bool) -> None:
        if genuine and mode.is_positive:
            make_genuine(case, user)
        headers = dict(base_headers)
        if protected:  # a fresh session each time: logout-all/ ends the last one
            headers["Authorization"] = f"Bearer {access_token_for(user)}"
        case.call_and_validate(headers=headers, checks=CHECKS)

    call()


def test_no_server_error_and_no_answer_against_the_schema(
    live_server: Any, example_settings: None
) -> None:
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/?format=json", config=schemathesis.Config.from_str(CONFIG)
    )
    user = UserFactory()
    # Cookie mode's CSRF proof on every request, so that login/ gets past it to its body.
    csrf = {"Origin": live_server.url, "X-Requested-With": "XMLHttpRequest"}
    failures: list[str] = []
    fuzzed = []

    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/schema/":  # the schema itself (the example leaves it out)
            continue
        fuzzed.append(operation.label)
        raw = operation.definition.raw
        # Negative cases break a body, a path parameter or the Authorization header.
        breakable = "requestBody" in raw or bool(raw.get("security", [{}])[0])
        for mode in MODES if breakable else MODES[:1]:
            try:
                fuzz(operation, mode, user, csrf)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as failure:  # schemathesis's FailureGroup is an ExceptionGroup
                failures.append(f"{operation.label} ({mode.value}): {failure!r}")

    assert len(fuzzed) == 10, fuzzed  # tokenauth's nine operations and the example's /api/me/
    assert failures == [], "\n\n".join(failures)
