"""Arbitrary ``DPoP`` header values never yield a 5xx (DESIGN §3, §8): at the token endpoints
and at a resource, with Hypothesis."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import post_json
from tests.dpop_proofs import Signer, b64, proof_for
from tests.factories import PASSWORD
from tests.test_fuzz import assert_no_server_error

pytestmark = pytest.mark.django_db
fuzz_settings = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SIGNER = Signer("ES256")

# Header values a WSGI server can deliver: latin-1 text without CR/LF.
_header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=300,
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_jws_like = st.builds(
    lambda header, payload, signature: ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    ),
    st.dictionaries(
        st.sampled_from(["typ", "alg", "jwk", "crit", "b64", "kid"]), _json_values, max_size=5
    ),
    st.dictionaries(
        st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]), _json_values, max_size=6
    ),
    st.binary(max_size=80),
)
_proofs = _header_text | _jws_like


@pytest.fixture(autouse=True)
def _dpop_allowed(tokenauth_settings: Any) -> None:
    tokenauth_settings(DPOP="allowed", DPOP_NONCE=True)


@pytest.fixture
def safe_client() -> Client:
    return Client(raise_request_exception=False)


@fuzz_settings
@given(proof=_proofs, path=st.sampled_from(["/auth/login/", "/auth/refresh/", "/auth/token/"]))
def test_any_dpop_header_at_a_token_endpoint_is_a_4xx_at_worst(
    safe_client: Client, user: Any, proof: str, path: str
) -> None:
    body = {"username": user.username, "password": PASSWORD, "refresh_token": "x"}
    if path == "/auth/token/":
        body["grant_type"] = "password"

    response = post_json(safe_client, path, body, HTTP_DPOP=proof)

    assert_no_server_error(response)


@fuzz_settings
@given(proof=_proofs, scheme=st.sampled_from(["DPoP", "Bearer", "dpop"]))
def test_any_dpop_header_at_a_resource_is_a_401_at_worst(
    safe_client: Client, bound_access_token: str, proof: str, scheme: str
) -> None:
    response = safe_client.get(
        "/api/me/", HTTP_AUTHORIZATION=f"{scheme} {bound_access_token}", HTTP_DPOP=proof
    )

    assert_no_server_error(response, token_endpoint=False)
    assert response.status_code == 401


@pytest.fixture
def bound_access_token(client: Client, user: Any) -> str:
    proof = proof_for(SIGNER, "http://testserver/auth/login/")
    body = {"username": user.username, "password": PASSWORD}
    first = post_json(client, "/auth/login/", body, HTTP_DPOP=proof)
    nonce = first["DPoP-Nonce"]
    proof = proof_for(SIGNER, "http://testserver/auth/login/", nonce=nonce)
    return str(post_json(client, "/auth/login/", body, HTTP_DPOP=proof).json()["access_token"])
