"""Real clients over real HTTP against a live server: the libraries a new user reaches for.

requests-oauthlib and authlib talk RFC 6749 / RFC 7009 to ``token/`` and ``revoke/``;
jwcrypto verifies access tokens from nothing but ``jwks.json`` (DESIGN §3, §4, §7).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk, jwt
from oauthlib.oauth2 import LegacyApplicationClient, OAuth2Error
from requests_oauthlib import OAuth2Session

from tests.conftest import private_pem, public_pem
from tests.factories import PASSWORD, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("live_server_requests_joined"),
]

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}
TIMEOUT = 10


@pytest.fixture(autouse=True)
def plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both libraries refuse http:// token endpoints; the live server speaks plain HTTP on
    # 127.0.0.1 only.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def oauthlib_session() -> Iterator[OAuth2Session]:
    # Closed at teardown: a kept-alive connection would outlive the live server's test database.
    with OAuth2Session(client=LegacyApplicationClient(client_id="any-public-client")) as session:
        yield session


def fetch(session: OAuth2Session, url: str, username: str, password: str = PASSWORD) -> Any:
    return session.fetch_token(
        token_url=url + "/auth/token/",
        username=username,
        password=password,
        include_client_id=True,
        timeout=TIMEOUT,
    )


# requests-oauthlib --------------------------------------------------------------------------


def test_requests_oauthlib_password_grant_calls_the_api_and_rotates(
    base_url: str, tokenauth_settings: Any, oauthlib_session: OAuth2Session
) -> None:
    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(0))
    UserFactory(username="alice")
    session = oauthlib_session

    token = fetch(session, base_url, "alice")

    assert token["token_type"] == "Bearer"
    assert token["access_token"]
    assert token["refresh_token"]
    assert token["expires_in"] == 900
    me = session.get(base_url + "/api/me/", timeout=TIMEOUT)
    assert me.status_code == 200
    assert me.json()["username"] == "alice"

    old_refresh = token["refresh_token"]
    new = session.refresh_token(
        base_url + "/auth/token/", refresh_token=old_refresh, timeout=TIMEOUT
    )

    assert new["refresh_token"] != old_refresh
    assert new["access_token"] != token["access_token"]
    assert session.get(base_url + "/api/me/", timeout=TIMEOUT).status_code == 200

    # The spent token again, with no grace window: reuse, the library raises invalid_grant...
    with pytest.raises(OAuth2Error) as reused:
        session.refresh_token(base_url + "/auth/token/", refresh_token=old_refresh, timeout=TIMEOUT)
    assert reused.value.error == "invalid_grant"
    # ...and the whole family is gone: the legitimate successor and its access token too.
    with pytest.raises(OAuth2Error) as successor:
        session.refresh_token(
            base_url + "/auth/token/", refresh_token=new["refresh_token"], timeout=TIMEOUT
        )
    assert successor.value.error == "invalid_grant"
    revoked = requests.get(
        base_url + "/api/me/",
        headers={"Authorization": f"Bearer {new['access_token']}"},
        timeout=TIMEOUT,
    )
    assert revoked.status_code == 401


def test_requests_oauthlib_wrong_password_is_invalid_grant(
    base_url: str, oauthlib_session: OAuth2Session
) -> None:
    UserFactory(username="bob")

    with pytest.raises(OAuth2Error) as failed:
        fetch(oauthlib_session, base_url, "bob", password="not the password")

    assert failed.value.error == "invalid_grant"


def test_an_unsupported_grant_type_is_refused_in_rfc_6749_shape(base_url: str) -> None:
    response = requests.post(
        base_url + "/auth/token/",
        data={"grant_type": "client_credentials", "client_id": "any", "client_secret": "x"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "unsupported_grant_type"


# authlib ------------------------------------------------------------------------------------


@pytest.fixture
def authlib_session(base_url: str) -> Iterator[AuthlibSession]:
    with AuthlibSession(client_id="any", token_endpoint=base_url + "/auth/token/") as session:
        yield session


def test_authlib_revoking_a_refresh_token_ends_its_family(
    base_url: str, authlib_session: AuthlibSession
) -> None:
    UserFactory(username="carol")
    session = authlib_session
    token = session.fetch_token(
        grant_type="password", username="carol", password=PASSWORD, timeout=TIMEOUT
    )
    assert token["token_type"] == "Bearer"

    response = session.revoke_token(
        base_url + "/auth/revoke/",
        token=token["refresh_token"],
        token_type_hint="refresh_token",
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    with pytest.raises(OAuthError) as refused:
        session.refresh_token(refresh_token=token["refresh_token"], timeout=TIMEOUT)
    assert refused.value.error == "invalid_grant"


def test_authlib_revoking_an_access_token_ends_its_family(
    base_url: str, authlib_session: AuthlibSession
) -> None:
    UserFactory(username="dave")
    session = authlib_session
    token = session.fetch_token(
        grant_type="password", username="dave", password=PASSWORD, timeout=TIMEOUT
    )
    assert session.get(base_url + "/api/whoami/", timeout=TIMEOUT).status_code == 200

    response = session.revoke_token(
        base_url + "/auth/revoke/",
        token=token["access_token"],
        token_type_hint="access_token",
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    whoami = session.get(base_url + "/api/whoami/", timeout=TIMEOUT)
    assert whoami.status_code == 401
    assert 'error="invalid_token"' in whoami.headers["WWW-Authenticate"]
    with pytest.raises(OAuthError) as refused:
        session.refresh_token(refresh_token=token["refresh_token"], timeout=TIMEOUT)
    assert refused.value.error == "invalid_grant"


# jwcrypto reading jwks.json -----------------------------------------------------------------


def new_rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY_MAKERS = {
    "RS256": new_rsa_key,
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


def fetch_jwks(url: str) -> tuple[dict[str, Any], jwk.JWKSet]:
    response = requests.get(url + "/auth/jwks.json", timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json(), jwk.JWKSet.from_json(response.text)


def login(url: str, username: str) -> dict[str, Any]:
    response = requests.post(
        url + "/auth/login/", json={"username": username, "password": PASSWORD}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("alg", sorted(KEY_MAKERS))
def test_jwcrypto_verifies_access_tokens_from_jwks_json_alone(
    base_url: str, tokenauth_settings: Any, alg: str
) -> None:
    tokenauth_settings(ALGORITHM=alg, SIGNING_KEY=private_pem(KEY_MAKERS[alg]()))
    user = UserFactory(username="erin")

    raw, key_set = fetch_jwks(base_url)
    body = login(base_url, "erin")

    assert len(raw["keys"]) == 1
    published = raw["keys"][0]
    assert not PRIVATE_MEMBERS & set(published), published
    verified = jwt.JWT(jwt=body["access_token"], key=key_set, algs=[alg])
    header = json.loads(verified.header)
    claims = json.loads(verified.claims)
    assert header["alg"] == alg
    assert header["typ"] == "at+jwt"
    assert header["kid"] == published["kid"]
    assert claims["sub"] == str(user.pk)
    assert claims["sid"]
    assert claims["exp"] > claims["iat"]


def test_jwcrypto_refuses_a_token_the_published_key_did_not_sign(
    base_url: str, tokenauth_settings: Any
) -> None:
    tokenauth_settings(ALGORITHM="RS256", SIGNING_KEY=private_pem(new_rsa_key()))
    UserFactory(username="frank")
    body = login(base_url, "frank")
    tokenauth_settings(SIGNING_KEY=private_pem(new_rsa_key()), SIGNING_KEY_ID=None)

    _, other_key_set = fetch_jwks(base_url)

    with pytest.raises(jwt.JWTMissingKey):  # its kid is not in the new key set
        jwt.JWT(jwt=body["access_token"], key=other_key_set, algs=["RS256"])


def test_hs256_publishes_an_empty_key_set(base_url: str) -> None:
    response = requests.get(base_url + "/auth/jwks.json", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json() == {"keys": []}


def test_a_token_signed_before_key_rotation_still_authenticates(
    base_url: str, tokenauth_settings: Any
) -> None:
    old_key, new_key = new_rsa_key(), new_rsa_key()
    tokenauth_settings(ALGORITHM="RS256", SIGNING_KEY=private_pem(old_key), SIGNING_KEY_ID="old")
    UserFactory(username="grace")
    old_token = login(base_url, "grace")["access_token"]

    tokenauth_settings(
        SIGNING_KEY=private_pem(new_key),
        SIGNING_KEY_ID=None,
        VERIFYING_KEYS=[{"kid": "old", "key": public_pem(old_key), "algorithm": "RS256"}],
    )
    new_token = login(base_url, "grace")["access_token"]

    for token in (old_token, new_token):
        whoami = requests.get(
            base_url + "/api/whoami/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        assert whoami.status_code == 200, whoami.text
        assert whoami.json()["authenticated"] is True
    raw, key_set = fetch_jwks(base_url)
    kids = {key["kid"] for key in raw["keys"]}
    assert len(kids) == 2
    assert "old" in kids
    for key in raw["keys"]:
        assert not PRIVATE_MEMBERS & set(key), key
    old_header = json.loads(jwt.JWT(jwt=old_token, key=key_set, algs=["RS256"]).header)
    new_header = json.loads(jwt.JWT(jwt=new_token, key=key_set, algs=["RS256"]).header)
    assert old_header["kid"] == "old"
    assert new_header["kid"] in kids - {"old"}
