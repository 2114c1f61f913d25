"""DPoP at protected resources (DESIGN §8, RFC 9449 §7): the DPoP scheme with its proof, the
downgrade refusals, the §7.1 challenges, "required", "off", the replay cache's outage and the
statement counts of every revocation mode."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from jwcrypto import jwk as jwcrypto_jwk

from tests.conftest import UNREACHABLE_REDIS, post_json, requires_redis
from tests.dpop_proofs import MISSING, Signer, b64, new_key, proof_for, raw_jws
from tests.factories import PASSWORD
from tests.test_query_budgets import statements
from tokenauth.dpop import access_token_hash

ME = "http://testserver/api/me/"
LOGIN = "http://testserver/auth/login/"
ALGS = 'algs="ES256 EdDSA RS256 PS256"'

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dpop_allowed")]


def tokens(client: Client, user: Any, signer: Signer | None) -> dict[str, Any]:
    proof = {} if signer is None else {"HTTP_DPOP": proof_for(signer, LOGIN)}
    body = {"username": user.username, "password": PASSWORD}
    response = post_json(client, "/auth/login/", body, **proof)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def bound(client: Client, user: Any, signer: Signer) -> str:
    return str(tokens(client, user, signer)["access_token"])


@pytest.fixture
def bearer(client: Client, user: Any) -> str:
    return str(tokens(client, user, None)["access_token"])


def get_me(
    client: Client, authorization: str | None, proof: str | None = None, **extra: Any
) -> Any:
    headers = dict(extra)
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    if proof is not None:
        headers["HTTP_DPOP"] = proof
    return client.get("/api/me/", **headers)


def assert_challenged(response: Any, error: str) -> str:
    assert response.status_code == 401, response.content
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith(f'DPoP {ALGS}, error="{error}", error_description="'), challenge
    return str(challenge)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_a_bound_token_with_its_proof_is_accepted(client: Client, user: Any, alg: str) -> None:
    key = Signer(alg)
    access_token = tokens(client, user, key)["access_token"]

    response = get_me(
        client, f"DPoP {access_token}", proof_for(key, ME, method="GET", access_token=access_token)
    )

    assert response.status_code == 200, response.content
    assert response.json()["username"] == user.username


def test_the_scheme_is_case_insensitive(client: Client, bound: str, signer: Signer) -> None:
    proof = proof_for(signer, ME, method="GET", access_token=bound)

    assert get_me(client, f"dpop {bound}", proof).status_code == 200


def test_a_nonce_in_a_resource_proof_is_accepted(
    client: Client, bound: str, signer: Signer
) -> None:
    proof = proof_for(signer, ME, method="GET", access_token=bound, nonce="whatever-it-holds")

    assert get_me(client, f"DPoP {bound}", proof).status_code == 200


def test_a_bound_token_as_bearer_is_refused(client: Client, bound: str, signer: Signer) -> None:
    proof = proof_for(signer, ME, method="GET", access_token=bound)

    assert_challenged(get_me(client, f"Bearer {bound}"), "invalid_token")
    assert_challenged(get_me(client, f"Bearer {bound}", proof), "invalid_token")


def test_an_unbound_token_as_dpop_is_refused(client: Client, bearer: str, signer: Signer) -> None:
    proof = proof_for(signer, ME, method="GET", access_token=bearer)

    assert_challenged(get_me(client, f"DPoP {bearer}", proof), "invalid_token")
    assert get_me(client, f"Bearer {bearer}").status_code == 200


def test_a_forged_token_under_dpop_is_invalid_token(client: Client, signer: Signer) -> None:
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    proof = proof_for(signer, ME, method="GET", access_token=forged)

    assert_challenged(get_me(client, f"DPoP {forged}", proof), "invalid_token")
    assert_challenged(get_me(client, "DPoP", proof), "invalid_token")
    assert_challenged(get_me(client, f"DPoP {forged} {forged}", proof), "invalid_token")


def _resource_proofs(signer: Signer, access_token: str) -> dict[str, Any]:
    def get(**claims: Any) -> Any:
        token = None if claims.get("ath") is MISSING else access_token  # else ath is added
        return lambda: proof_for(signer, ME, method="GET", access_token=token, **claims)

    def rsa_1024() -> str:
        key = Signer("RS256", key=new_key("RS256", rsa_bits=1024))
        return proof_for(key, ME, method="GET", access_token=access_token)

    def hmac_alg() -> str:
        header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"k" * 32)}}
        claims = {"jti": "j", "htm": "GET", "htu": ME, "iat": int(time.time())}
        claims["ath"] = access_token_hash(access_token)
        unsigned = raw_jws(header, claims).rpartition(".")[0]
        mac = hmac.new(b"k" * 32, unsigned.encode(), hashlib.sha256).digest()
        return f"{unsigned}.{b64(mac)}"

    def private_d() -> str:
        jwk = jwcrypto_jwk.JWK.from_pyca(signer.key).export(as_dict=True, private_key=True)
        key = Signer("ES256", key=signer.key, jwk=jwk)
        return proof_for(key, ME, method="GET", access_token=access_token)

    return {
        "HMAC alg": hmac_alg,
        "private d in the jwk": private_d,
        "typ JWT": lambda: proof_for(
            signer, ME, method="GET", access_token=access_token, headers={"typ": "JWT"}
        ),
        "no jti": get(jti=MISSING),
        "missing proof": lambda: None,
        "missing ath": get(ath=MISSING),
        "wrong ath": get(ath="A" * 43),
        "another token's ath": get(ath=proof_for(signer, ME)[:43]),
        "wrong htm": get(htm="POST"),
        "wrong path": get(htu="http://testserver/api/whoami/"),
        "wrong host": get(htu="http://evil.example/api/me/"),
        "wrong scheme": get(htu="https://testserver/api/me/"),
        "wrong port": get(htu="http://testserver:8000/api/me/"),
        "stale iat": get(iat=int(time.time()) - 3600),
        "future iat": get(iat=int(time.time()) + 3600),
        "another key": lambda: proof_for(
            Signer("ES256"), ME, method="GET", access_token=access_token
        ),
        "another key's signature": lambda: proof_for(
            Signer("ES256", jwk=signer.jwk), ME, method="GET", access_token=access_token
        ),
        "RSA-1024": rsa_1024,
        "alg none": lambda: "eyJhbGciOiJub25lIn0.e30.",
        "two DPoP headers": lambda: ", ".join([get()(), get()()]),
    }


CASES = sorted(_resource_proofs(Signer(), "x"))


@pytest.mark.parametrize("case", CASES)
def test_each_invalid_proof_is_refused_with_the_dpop_challenge(
    client: Client, bound: str, signer: Signer, case: str
) -> None:
    proof = _resource_proofs(signer, bound)[case]()

    challenge = assert_challenged(get_me(client, f"DPoP {bound}", proof), "invalid_dpop_proof")

    assert bound not in challenge


def test_a_replayed_proof_is_refused(client: Client, bound: str, signer: Signer) -> None:
    proof = proof_for(signer, ME, method="GET", access_token=bound)
    assert get_me(client, f"DPoP {bound}", proof).status_code == 200

    assert_challenged(get_me(client, f"DPoP {bound}", proof), "invalid_dpop_proof")


def test_the_htu_ignores_the_query(client: Client, bound: str, signer: Signer) -> None:
    proof = proof_for(signer, ME, method="GET", access_token=bound)

    response = client.get("/api/me/?page=2", HTTP_AUTHORIZATION=f"DPoP {bound}", HTTP_DPOP=proof)

    assert response.status_code == 200, response.content


def test_no_credentials_name_both_schemes_bearer_first(client: Client) -> None:
    response = get_me(client, None)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == f'Bearer realm="api", DPoP {ALGS}'


def test_the_challenge_names_the_configured_algorithms(
    client: Client, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP_ALGORITHMS=["EdDSA", "ES384"])

    assert get_me(client, None)["WWW-Authenticate"] == 'Bearer realm="api", DPoP algs="EdDSA ES384"'


def test_required_refuses_bearer_tokens_with_the_dpop_challenge(
    client: Client, bearer: str, bound: str, signer: Signer, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP="required")

    assert_challenged(get_me(client, f"Bearer {bearer}"), "invalid_token")
    assert get_me(client, None)["WWW-Authenticate"] == f"DPoP {ALGS}"
    proof = proof_for(signer, ME, method="GET", access_token=bound)
    assert get_me(client, f"DPoP {bound}", proof).status_code == 200


def test_off_leaves_the_dpop_scheme_to_other_classes(
    client: Client, bound: str, signer: Signer, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP="off")
    proof = proof_for(signer, ME, method="GET", access_token=bound)

    response = get_me(client, f"DPoP {bound}", proof)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'  # no credentials it knows


def test_an_unreachable_replay_cache_closed_is_401(
    client: Client, bound: str, signer: Signer, settings: Any, tokenauth_settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "down": UNREACHABLE_REDIS}
    tokenauth_settings(CACHE_ALIAS="down", CACHE_FAILURE="closed", ACCESS_TOKEN_REVOCATION="none")
    proof = proof_for(signer, ME, method="GET", access_token=bound)

    assert_challenged(get_me(client, f"DPoP {bound}", proof), "invalid_dpop_proof")


def test_an_unreachable_replay_cache_open_skips_the_replay_check(
    client: Client, bound: str, signer: Signer, settings: Any, tokenauth_settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "down": UNREACHABLE_REDIS}
    tokenauth_settings(CACHE_ALIAS="down", CACHE_FAILURE="open", ACCESS_TOKEN_REVOCATION="none")
    proof = proof_for(signer, ME, method="GET", access_token=bound)

    assert get_me(client, f"DPoP {bound}", proof).status_code == 200
    assert get_me(client, f"DPoP {bound}", proof).status_code == 200  # no record to refuse it


def test_a_revoked_bound_token_is_refused_with_the_dpop_challenge(
    client: Client, user: Any, signer: Signer
) -> None:
    issued = tokens(client, user, signer)
    post_json(client, "/auth/logout/", {"refresh_token": issued["refresh_token"]})
    access_token = issued["access_token"]
    proof = proof_for(signer, ME, method="GET", access_token=access_token)

    challenge = assert_challenged(get_me(client, f"DPoP {access_token}", proof), "invalid_token")
    assert "revoked" in challenge


@pytest.mark.parametrize("mode", ["database", "cache", "none"])
def test_a_dpop_request_costs_the_statements_a_bearer_one_does(
    client: Client, user: Any, signer: Signer, tokenauth_settings: Any, mode: str
) -> None:
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    bearer_token = tokens(client, user, None)["access_token"]
    bound_token = tokens(client, user, signer)["access_token"]
    caches["default"].clear()  # the login's cache writes are no part of the request

    bearer_response, bearer_sql = statements(lambda: get_me(client, f"Bearer {bearer_token}"))
    proof = proof_for(signer, ME, method="GET", access_token=bound_token)
    dpop_response, dpop_sql = statements(lambda: get_me(client, f"DPoP {bound_token}", proof))

    assert bearer_response.status_code == dpop_response.status_code == 200
    assert len(dpop_sql) == len(bearer_sql), (bearer_sql, dpop_sql)
    assert len(bearer_sql) == 1, bearer_sql  # the join (database); the user load (cache, none)


def test_logout_all_and_sessions_take_a_bound_token(
    client: Client, user: Any, signer: Signer
) -> None:
    access_token = tokens(client, user, signer)["access_token"]
    sessions_url = "http://testserver/auth/sessions/"
    proof = proof_for(signer, sessions_url, method="GET", access_token=access_token)

    listed = client.get(
        "/auth/sessions/", HTTP_AUTHORIZATION=f"DPoP {access_token}", HTTP_DPOP=proof
    )
    assert listed.status_code == 200, listed.content
    assert listed.json()[0]["current"] is True

    proof = proof_for(signer, "http://testserver/auth/logout-all/", access_token=access_token)
    response = client.post(
        "/auth/logout-all/", HTTP_AUTHORIZATION=f"DPoP {access_token}", HTTP_DPOP=proof
    )
    assert response.status_code == 204, response.content


@requires_redis
def test_a_replay_is_refused_through_a_shared_redis_cache(
    client: Client, user: Any, signer: Signer, tokenauth_settings: Any
) -> None:
    tokenauth_settings(CACHE_ALIAS="redis")
    access_token = tokens(client, user, signer)["access_token"]
    proof = proof_for(signer, ME, method="GET", access_token=access_token)

    assert get_me(client, f"DPoP {access_token}", proof).status_code == 200
    assert_challenged(get_me(client, f"DPoP {access_token}", proof), "invalid_dpop_proof")


@pytest.mark.parametrize("cnf", ["a-string", {}, {"jkt": 7}, {"jkt": ""}, {"jkt": "x" * 65}, None])
def test_a_token_with_a_malformed_cnf_is_never_a_bearer_token(cnf: Any) -> None:
    import jwt

    from tokenauth import keys
    from tokenauth.access import InvalidAccessToken, decode_access_token

    signing = keys.get_key_set().signing
    now = int(time.time())
    claims = {"sub": "1", "sid": "A" * 22, "pwv": "p", "jti": "j", "iat": now, "exp": now + 60}
    access_token = jwt.encode(
        {**claims, "cnf": cnf},
        signing.signing_key,
        algorithm=signing.algorithm,
        headers={"typ": "at+jwt", "kid": signing.kid},
    )
    assert (
        decode_access_token(
            jwt.encode(
                claims,
                signing.signing_key,
                algorithm=signing.algorithm,
                headers={"typ": "at+jwt", "kid": signing.kid},
            )
        ).dpop_jkt
        is None
    )

    with pytest.raises(InvalidAccessToken):
        decode_access_token(access_token)
