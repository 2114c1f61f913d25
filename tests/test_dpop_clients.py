"""DPoP clients that we did not write, over real HTTP against a live server (DESIGN §8).

Node's oauth4webapi (panva) runs tests/clients/oauth4webapi_dpop.mjs, installed from npm into a
directory of this test run; Python's requests-oauth2client calls the same endpoints. Each one
gets DPoP-bound tokens at ``token/``, calls a protected view and refreshes with its own key;
then what it holds, taken without the key, buys nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from django.core.signals import request_started

from tests.dpop_proofs import Signer
from tests.factories import PASSWORD, UserFactory
from tests.node_packages import install_beside
from tokenauth.models import RefreshTokenFamily

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("live_server_requests_joined"),
]

OAUTH4WEBAPI_VERSION = "3"  # the major version tests/clients/oauth4webapi_dpop.mjs is written for
SCRIPT = Path(__file__).resolve().parent / "clients" / "oauth4webapi_dpop.mjs"
TIMEOUT = 60


@pytest.fixture(params=[False, True], ids=["no-nonce", "nonce"])
def dpop_nonce(request: pytest.FixtureRequest, tokenauth_settings: Any) -> bool:
    tokenauth_settings(DPOP="allowed", DPOP_NONCE=request.param)
    return bool(request.param)


def cnf_jkt(access_token: str) -> str:
    """The key an access token is bound to (its signature is the server's business here)."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    return str(claims["cnf"]["jkt"])


def refused_without_the_key(url: str, access_token: str) -> list[tuple[int, str]]:
    """Status and challenge for the access token sent as Bearer, then with another key's
    (otherwise valid) proof: what a thief who copied it can do."""
    thief = Signer("ES256")
    proof = thief.proof(htm="GET", htu=url, access_token=access_token, iat=int(time.time()))
    answers = [
        requests.get(url, headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT),
        requests.get(
            url, headers={"Authorization": f"DPoP {access_token}", "DPoP": proof}, timeout=TIMEOUT
        ),
    ]
    return [(a.status_code, a.headers.get("WWW-Authenticate", "")) for a in answers]


def assert_refused(answers: list[tuple[int, str]]) -> None:
    (bearer_status, bearer_challenge), (foreign_status, foreign_challenge) = answers
    assert bearer_status == 401
    assert bearer_challenge.startswith("DPoP "), bearer_challenge  # RFC 9449 §7.1
    assert 'error="invalid_token"' in bearer_challenge
    assert foreign_status == 401
    assert foreign_challenge.startswith("DPoP "), foreign_challenge
    assert 'error="invalid_dpop_proof"' in foreign_challenge


# Node: oauth4webapi --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oauth4webapi_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The script beside its own node_modules/oauth4webapi (an ES module resolves imports from
    its own directory upwards), in a directory this test run owns."""
    directory = tmp_path_factory.mktemp("node-oauth4webapi")
    return install_beside(directory, SCRIPT, f"oauth4webapi@{OAUTH4WEBAPI_VERSION}")


def run_oauth4webapi(script: Path, base_url: str, username: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603  # the machine's node, our script
        [str(shutil.which("node")), str(script), base_url, username, PASSWORD],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_oauth4webapi_gets_bound_tokens_calls_the_api_and_refreshes(
    base_url: str, dpop_nonce: bool, oauth4webapi_script: Path
) -> None:
    UserFactory(username="panva")

    result = run_oauth4webapi(oauth4webapi_script, base_url, "panva")

    login, refreshed = result["login"], result["refreshed"]
    assert login["token_type"] == "dpop"  # the library lowercases what the server says, "DPoP"
    assert refreshed["token_type"] == "dpop"
    assert cnf_jkt(login["access_token"]) == result["jkt"]
    assert cnf_jkt(refreshed["access_token"]) == result["jkt"]
    assert refreshed["refresh_token"] != login["refresh_token"]
    assert result["me"]["status"] == 200, result["me"]
    assert result["me"]["body"]["username"] == "panva"
    # With nonces on, only the first token request lacks one: the handle keeps the DPoP-Nonce of
    # every token response, so the refresh carries it (and resources accept it, DESIGN §8).
    assert result["retries"] == (["password"] if dpop_nonce else [])

    assert_refused(refused_without_the_key(base_url + "/api/me/", refreshed["access_token"]))


def test_oauth4webapi_refresh_token_without_the_key_is_refused_and_kills_nothing(
    base_url: str, tokenauth_settings: Any, oauth4webapi_script: Path
) -> None:
    tokenauth_settings(DPOP="allowed")
    user = UserFactory(username="thief-target")
    result = run_oauth4webapi(oauth4webapi_script, base_url, "thief-target")
    token_url = base_url + "/auth/token/"

    # The spent one (reuse, were it not bound) and the live one, with no proof at all...
    for refresh_token in (result["login"]["refresh_token"], result["refreshed"]["refresh_token"]):
        stolen = requests.post(
            token_url,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            timeout=TIMEOUT,
        )
        assert stolen.status_code == 400, stolen.text
        assert stolen.json()["error"] == "invalid_dpop_proof"
    # ...and neither rotated nor revoked the owner's family (DESIGN §8: no reuse revocation).
    family = RefreshTokenFamily.objects.get(user=user)
    assert family.revoked_at is None
    assert family.generation == 1


# Python: requests-oauth2client ---------------------------------------------------------------


@pytest.fixture
def oauth2client(base_url: str) -> Iterator[Any]:
    roc = pytest.importorskip(
        "requests_oauth2client", reason="needs requests-oauth2client (the test dependency group)"
    )
    # Closed at teardown: a kept-alive connection would outlive the live server's test database.
    with requests.Session() as session:
        # testing=True: the library refuses http:// endpoints otherwise; this is 127.0.0.1 only.
        yield roc.OAuth2Client(
            token_endpoint=base_url + "/auth/token/",
            client_id="requests-oauth2client-public-client",
            dpop_bound_access_tokens=True,
            testing=True,
            session=session,
        )


@pytest.fixture
def token_requests() -> Iterator[list[str]]:
    """The path of every request to ``token/`` that reaches the live server (same process)."""
    paths: list[str] = []

    def _record(sender: Any, environ: dict[str, Any], **kwargs: Any) -> None:
        if environ["PATH_INFO"] == "/auth/token/":
            paths.append(environ["PATH_INFO"])

    request_started.connect(_record, weak=False, dispatch_uid="tests-dpop-clients")
    yield paths
    request_started.disconnect(dispatch_uid="tests-dpop-clients")


def test_requests_oauth2client_gets_bound_tokens_calls_the_api_and_refreshes(
    base_url: str, dpop_nonce: bool, oauth2client: Any, token_requests: list[str]
) -> None:
    from requests_oauth2client import DPoPToken

    user = UserFactory(username="guillp")

    token = oauth2client.resource_owner_password("guillp", PASSWORD)

    assert isinstance(token, DPoPToken)
    assert token.token_type == "DPoP"
    jkt = token.dpop_key.dpop_jkt
    assert cnf_jkt(token.access_token) == jkt
    assert RefreshTokenFamily.objects.get(user=user).dpop_jkt == jkt
    # With nonces on, the library's own use_dpop_nonce retry: the login is asked twice.
    assert len(token_requests) == (2 if dpop_nonce else 1)
    # The library signs the whole URL as htu, query included: RFC 9449 §4.3 compares without it.
    me = requests.get(base_url + "/api/me/?page=2", auth=token, timeout=TIMEOUT)
    assert me.status_code == 200, me.headers.get("WWW-Authenticate")
    assert me.json()["username"] == "guillp"

    refreshed = oauth2client.refresh_token(token)

    assert isinstance(refreshed, DPoPToken)
    assert refreshed.token_type == "DPoP"
    assert refreshed.dpop_key is token.dpop_key
    assert refreshed.refresh_token != token.refresh_token
    assert cnf_jkt(refreshed.access_token) == jkt
    # The refresh reuses the nonce the login was given: no second retry.
    assert len(token_requests) == (3 if dpop_nonce else 2)
    assert requests.get(base_url + "/api/me/", auth=refreshed, timeout=TIMEOUT).status_code == 200
    assert_refused(refused_without_the_key(base_url + "/api/me/", refreshed.access_token))


def test_requests_oauth2client_cannot_refresh_with_another_key(
    base_url: str, tokenauth_settings: Any, oauth2client: Any
) -> None:
    from requests_oauth2client import DPoPKey, EndpointError

    tokenauth_settings(DPOP="allowed")
    UserFactory(username="mallory-target")
    token = oauth2client.resource_owner_password("mallory-target", PASSWORD)
    data = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}

    with pytest.raises(EndpointError) as refused:
        oauth2client.token_request(data, dpop_key=DPoPKey.generate())

    assert refused.value.response.status_code == 400
    assert refused.value.error == "invalid_dpop_proof"
    # Not rotated, not revoked: the owner's own key still refreshes that same token.
    assert oauth2client.refresh_token(token).token_type == "DPoP"
