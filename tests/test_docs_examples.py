"""The docs' "verifying tokens in other services" examples, run as written against a live server.

``docs/examples/verify_joserfc.py`` (Python, joserfc) and ``docs/examples/verify_jose.mjs``
(Node, jose) are the files the page includes; each runs in its own process and knows nothing
but ``jwks.json`` (DESIGN §7).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import private_pem
from tests.factories import PASSWORD, UserFactory
from tests.node_packages import install_beside

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("live_server_requests_joined"),
]

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
JOSE_VERSION = "6"  # the major version the Node example is written for
AUDIENCE = "reports"
TIMEOUT = 60

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def node_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """verify_jose.mjs beside its own node_modules/jose, in a directory this test run owns.

    An ES module resolves ``import "jose"`` from its own directory upwards, so the example is
    copied next to the install rather than run from docs/examples/.
    """
    return install_beside(
        tmp_path_factory.mktemp("node-jose"), EXAMPLES / "verify_jose.mjs", f"jose@{JOSE_VERSION}"
    )


@pytest.fixture(params=["python-joserfc", "node-jose"])
def verify(request: pytest.FixtureRequest, base_url: str) -> Runner:
    """Runs one example's command line against the live server's jwks.json."""
    if request.param == "python-joserfc":
        command = [sys.executable, str(EXAMPLES / "verify_joserfc.py")]
    else:
        node_example = request.getfixturevalue("node_example")
        command = [str(shutil.which("node")), str(node_example)]

    def run(access_token: str, *, audience: str = AUDIENCE) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [
                *command,
                f"--jwks-url={base_url}/auth/jwks.json",
                f"--issuer={base_url}",
                f"--audience={audience}",
                "--algorithm=ES256",
                access_token,
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    return run


@pytest.fixture
def signing_key(tokenauth_settings: Any, base_url: str) -> ec.EllipticCurvePrivateKey:
    """The live server signs with a new ES256 key, for an issuer and an audience."""
    key = ec.generate_private_key(ec.SECP256R1())
    tokenauth_settings(
        ALGORITHM="ES256", SIGNING_KEY=private_pem(key), ISSUER=base_url, AUDIENCE=AUDIENCE
    )
    return key


def access_token(base_url: str, username: str) -> str:
    response = requests.post(
        base_url + "/auth/login/", json={"username": username, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_the_example_accepts_an_access_token_and_prints_its_claims(
    verify: Runner, signing_key: Any, base_url: str
) -> None:
    user = UserFactory(username="ines")

    result = verify(access_token(base_url, "ines"))

    assert result.returncode == 0, result.stderr
    claims = json.loads(result.stdout)
    assert claims["sub"] == str(user.pk)
    assert claims["sid"]
    assert claims["iss"] == base_url
    assert claims["aud"] == AUDIENCE


def test_the_example_refuses_a_token_for_another_audience(
    verify: Runner, signing_key: Any, base_url: str
) -> None:
    UserFactory(username="jonas")

    result = verify(access_token(base_url, "jonas"), audience="billing")

    assert result.returncode == 1
    assert result.stderr.startswith("refused:"), result.stderr
    assert result.stdout == ""


def test_the_example_refuses_a_token_of_a_key_jwks_json_no_longer_lists(
    verify: Runner, signing_key: Any, base_url: str, tokenauth_settings: Any
) -> None:
    UserFactory(username="kai")
    old_token = access_token(base_url, "kai")
    tokenauth_settings(SIGNING_KEY=private_pem(ec.generate_private_key(ec.SECP256R1())))

    result = verify(old_token)

    assert result.returncode == 1
    assert result.stderr.startswith("refused:"), result.stderr


def test_the_example_refuses_another_jwt_signed_by_the_same_key(
    verify: Runner, signing_key: Any, base_url: str
) -> None:
    # An ID token, say: same key, same kid, every claim right, but no RFC 9068 typ.
    UserFactory(username="lena")
    genuine = access_token(base_url, "lena")
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    id_token = jwt.encode(
        claims, private_pem(signing_key), algorithm="ES256", headers={"kid": header["kid"]}
    )

    result = verify(id_token)

    assert result.returncode == 1
    assert result.stderr.startswith("refused:"), result.stderr
