"""DPoP at the token endpoints (DESIGN §8): binding on the first proof, the bound family's
refreshes, every proof check over HTTP, "required", "off", nonces and the replay cache."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.conftest import UNREACHABLE_REDIS, post_json
from tests.dpop_proofs import MISSING, Signer, b64, jwt_claims, new_key, proof_for, raw_jws
from tests.factories import PASSWORD
from tokenauth.models import RefreshTokenFamily

BASE = "http://testserver/auth/"
LOGIN, REFRESH, TOKEN = BASE + "login/", BASE + "refresh/", BASE + "token/"
FORM = "application/x-www-form-urlencoded"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dpop_allowed")]


def login(client: Client, user: Any, proof: str | None = None, **extra: Any) -> Any:
    headers = {} if proof is None else {"HTTP_DPOP": proof}
    body = {"username": user.username, "password": PASSWORD}
    return post_json(client, "/auth/login/", body, **headers, **extra)


def refresh(client: Client, refresh_token: str, proof: str | None = None, **extra: Any) -> Any:
    headers = {} if proof is None else {"HTTP_DPOP": proof}
    body = {"refresh_token": refresh_token}
    return post_json(client, "/auth/refresh/", body, **headers, **extra)


def family() -> RefreshTokenFamily:
    return RefreshTokenFamily.objects.get()


def assert_dpop_refused(response: Any, error: str = "invalid_dpop_proof") -> None:
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_a_login_with_a_proof_binds_the_family_to_its_key(
    client: Client, user: Any, alg: str
) -> None:
    key = Signer(alg)

    response = login(client, user, proof_for(key, LOGIN))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert jwt_claims(body["access_token"])["cnf"] == {"jkt": key.jkt}
    assert family().dpop_jkt == key.jkt


def test_a_login_without_a_proof_gets_bearer_tokens(client: Client, user: Any) -> None:
    body = login(client, user).json()

    assert body["token_type"] == "Bearer"
    assert "cnf" not in jwt_claims(body["access_token"])
    assert family().dpop_jkt is None


def test_a_bound_family_refreshes_with_its_key(client: Client, user: Any, signer: Signer) -> None:
    first = login(client, user, proof_for(signer, LOGIN)).json()

    response = refresh(client, first["refresh_token"], proof_for(signer, REFRESH))

    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    assert jwt_claims(response.json()["access_token"])["cnf"] == {"jkt": signer.jkt}
    assert family().generation == 1


@pytest.mark.parametrize("with_proof", ["none", "another key", "invalid"])
def test_a_bound_familys_refresh_without_its_key_changes_nothing(
    client: Client, user: Any, signer: Signer, with_proof: str
) -> None:
    token = login(client, user, proof_for(signer, LOGIN)).json()["refresh_token"]
    before = family()
    proof = {
        "none": None,
        "another key": proof_for(Signer("ES256"), REFRESH),
        "invalid": proof_for(signer, REFRESH, htm="GET"),
    }[with_proof]

    assert_dpop_refused(refresh(client, token, proof))

    after = family()
    assert (after.generation, after.revoked_at, after.last_used_at) == (
        before.generation,
        None,
        before.last_used_at,
    )
    # The legitimate holder carries on.
    assert refresh(client, token, proof_for(signer, REFRESH)).status_code == 200


def test_a_spent_token_without_its_key_triggers_no_reuse_revocation(
    client: Client, user: Any, signer: Signer, tokenauth_settings: Any
) -> None:
    from datetime import timedelta

    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(0))
    spent = login(client, user, proof_for(signer, LOGIN)).json()["refresh_token"]
    current = refresh(client, spent, proof_for(signer, REFRESH)).json()["refresh_token"]

    assert_dpop_refused(refresh(client, spent))  # a thief with a copy, no key
    assert_dpop_refused(refresh(client, spent, proof_for(Signer("EdDSA"), REFRESH)))

    assert family().revoked_at is None
    assert refresh(client, current, proof_for(signer, REFRESH)).status_code == 200
    # With the key, a spent token is reuse, as ever.
    assert refresh(client, spent, proof_for(signer, REFRESH)).status_code == 400
    assert family().revocation_reason == "reuse_detected"


def test_the_first_proof_on_a_refresh_binds_and_there_is_no_downgrade(
    client: Client, user: Any, signer: Signer
) -> None:
    token = login(client, user).json()["refresh_token"]

    upgraded = refresh(client, token, proof_for(signer, REFRESH))

    assert upgraded.json()["token_type"] == "DPoP"
    assert family().dpop_jkt == signer.jkt
    assert_dpop_refused(refresh(client, upgraded.json()["refresh_token"]))
    assert family().dpop_jkt == signer.jkt


def test_a_thief_who_binds_a_stolen_bearer_token_is_ended_by_the_owners_replay(
    client: Client, user: Any, signer: Signer
) -> None:
    """The owner is a bearer client; a thief copies its refresh token and refreshes first with
    a proof of their own, which binds the family to the thief's key. The owner's next refresh
    presents the token the thief spent, without any key: that is reuse, as it would be
    without DPoP, and ends the thief's session (it must not be a quiet invalid_dpop_proof)."""
    stolen = login(client, user).json()["refresh_token"]
    elsewhere = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "thief/1.0"}
    thief = refresh(client, stolen, proof_for(signer, REFRESH), **elsewhere).json()
    assert thief["token_type"] == "DPoP"

    owner = refresh(client, stolen)

    assert owner.status_code == 400, owner.content
    assert owner.json()["error"] == "invalid_grant"
    assert family().revocation_reason == "reuse_detected"
    assert refresh(client, thief["refresh_token"], proof_for(signer, REFRESH)).status_code == 400


def test_a_token_from_before_the_binding_gets_no_grace_without_the_key(
    client: Client, user: Any, signer: Signer
) -> None:
    """Within the grace window, from the same client: still no tokens without the key, and
    nothing revoked (grace is not reuse)."""
    token = login(client, user).json()["refresh_token"]
    refresh(client, token, proof_for(signer, REFRESH))

    assert_dpop_refused(refresh(client, token))
    assert family().revoked_at is None


def test_a_proof_on_a_bound_refresh_never_rebinds(
    client: Client, user: Any, signer: Signer
) -> None:
    token = login(client, user, proof_for(signer, LOGIN)).json()["refresh_token"]
    refresh(client, token, proof_for(Signer("EdDSA"), REFRESH))

    assert family().dpop_jkt == signer.jkt


@pytest.mark.parametrize("content_type", ["form", "json"])
def test_the_token_endpoint_binds_both_grants(
    client: Client, user: Any, signer: Signer, content_type: str
) -> None:
    def token(body: dict[str, str], proof: str | None) -> Any:
        headers = {} if proof is None else {"HTTP_DPOP": proof}
        if content_type == "json":
            return post_json(client, "/auth/token/", body, **headers)
        return client.post("/auth/token/", urlencode(body), content_type=FORM, **headers)

    password = {"grant_type": "password", "username": user.username, "password": PASSWORD}
    first = token(password, proof_for(signer, TOKEN))
    assert first.json()["token_type"] == "DPoP", first.content
    grant = {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]}

    assert_dpop_refused(token(grant, None))
    second = token(grant, proof_for(signer, TOKEN))

    assert second.status_code == 200, second.content
    assert jwt_claims(second.json()["access_token"])["cnf"] == {"jkt": signer.jkt}


def test_logout_and_revoke_need_no_proof(client: Client, user: Any, signer: Signer) -> None:
    first = login(client, user, proof_for(signer, LOGIN)).json()
    post_json(client, "/auth/logout/", {"refresh_token": first["refresh_token"]})
    assert family().revocation_reason == "logout"

    second = login(client, user, proof_for(signer, LOGIN)).json()
    response = client.post(
        "/auth/revoke/", urlencode({"token": second["access_token"]}), content_type=FORM
    )

    assert response.status_code == 200
    assert RefreshTokenFamily.objects.filter(revoked_at__isnull=True).count() == 0


def test_required_refuses_token_requests_without_a_proof(
    client: Client, user: Any, signer: Signer, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP="required")

    assert_dpop_refused(login(client, user))
    assert not RefreshTokenFamily.objects.exists()
    grant = urlencode({"grant_type": "password", "username": user.username, "password": PASSWORD})
    assert_dpop_refused(client.post("/auth/token/", grant, content_type=FORM))
    token = login(client, user, proof_for(signer, LOGIN)).json()["refresh_token"]
    assert_dpop_refused(refresh(client, token))
    assert refresh(client, token, proof_for(signer, REFRESH)).status_code == 200


def test_off_ignores_the_header(
    client: Client, user: Any, signer: Signer, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP="off", DPOP_NONCE=True)

    response = login(client, user, "not a proof at all")

    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert "DPoP-Nonce" not in response
    assert family().dpop_jkt is None


def test_nonces_use_dpop_nonce_then_accepted(
    client: Client, user: Any, signer: Signer, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP_NONCE=True)

    first = login(client, user, proof_for(signer, LOGIN))

    assert_dpop_refused(first, "use_dpop_nonce")
    nonce = first["DPoP-Nonce"]
    assert not RefreshTokenFamily.objects.exists()
    second = login(client, user, proof_for(signer, LOGIN, nonce=nonce))
    assert second.status_code == 200, second.content
    assert second["DPoP-Nonce"] == nonce  # every token response carries it
    stale = proof_for(signer, LOGIN, nonce="stale")
    assert_dpop_refused(login(client, user, stale), "use_dpop_nonce")


def test_nonces_leave_bearer_requests_alone_in_allowed_mode(
    client: Client, user: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP_NONCE=True)

    response = login(client, user)

    assert response.status_code == 200
    assert response["DPoP-Nonce"]


def test_a_replayed_proof_is_refused(client: Client, user: Any, signer: Signer) -> None:
    proof = proof_for(signer, LOGIN)
    assert login(client, user, proof).status_code == 200

    assert_dpop_refused(login(client, user, proof))
    assert RefreshTokenFamily.objects.count() == 1


def test_an_unreachable_replay_cache_closed_is_503(
    client: Client, user: Any, signer: Signer, settings: Any, tokenauth_settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "down": UNREACHABLE_REDIS}
    tokenauth_settings(CACHE_ALIAS="down", CACHE_FAILURE="closed")

    response = login(client, user, proof_for(signer, LOGIN))

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response["Retry-After"]
    assert not RefreshTokenFamily.objects.exists()


def test_an_unreachable_replay_cache_open_skips_the_replay_check(
    client: Client, user: Any, signer: Signer, settings: Any, tokenauth_settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "down": UNREACHABLE_REDIS}
    tokenauth_settings(CACHE_ALIAS="down", CACHE_FAILURE="open")

    response = login(client, user, proof_for(signer, LOGIN))

    assert response.status_code == 200
    assert response.json()["token_type"] == "DPoP"


def _hmac_proof() -> str:
    import hashlib
    import hmac
    import json

    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"k" * 32)}}
    payload = {"jti": "j", "htm": "POST", "htu": LOGIN, "iat": int(time.time())}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(b"k" * 32, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _refused_proofs() -> dict[str, Any]:
    def es256(**claims: Any) -> Any:
        return lambda: proof_for(Signer("ES256"), LOGIN, **claims)

    def private_d() -> str:
        key = Signer("ES256")
        from jwcrypto import jwk as jwcrypto_jwk

        jwk = dict(key.jwk, d=jwcrypto_jwk.JWK.from_pyca(key.key).export(as_dict=True)["d"])
        return proof_for(Signer("ES256", key=key.key, jwk=jwk), LOGIN)

    def another_keys_signature() -> str:
        return proof_for(Signer("ES256", jwk=Signer("ES256").jwk), LOGIN)

    def rsa_1024() -> str:
        return proof_for(Signer("RS256", key=new_key("RS256", rsa_bits=1024)), LOGIN)

    def alg_none() -> str:
        header = {"typ": "dpop+jwt", "alg": "none", "jwk": Signer("ES256").jwk}
        return raw_jws(header, {"jti": "j", "htm": "POST", "htu": LOGIN, "iat": int(time.time())})

    def two_headers() -> str:  # what WSGI servers make of two DPoP headers
        return f"{proof_for(Signer('ES256'), LOGIN)}, {proof_for(Signer('ES256'), LOGIN)}"

    return {
        "stale iat": es256(iat=int(time.time()) - 3600),
        "future iat": es256(iat=int(time.time()) + 3600),
        "no iat": es256(iat=MISSING),
        "no jti": es256(jti=MISSING),
        "wrong htm": es256(htm="PUT"),
        "wrong path": es256(htu=BASE + "refresh/"),
        "wrong host": es256(htu="http://evil.example/auth/login/"),
        "wrong scheme": es256(htu="https://testserver/auth/login/"),
        "wrong port": es256(htu="http://testserver:8080/auth/login/"),
        "typ JWT": lambda: proof_for(Signer("ES256"), LOGIN, headers={"typ": "JWT"}),
        "alg none": alg_none,
        "HMAC alg": _hmac_proof,
        "private d in the jwk": private_d,
        "another key's signature": another_keys_signature,
        "RSA-1024": rsa_1024,
        "two DPoP headers": two_headers,
        "empty": lambda: "",
        "garbage": lambda: "\x00not.a.jws",
    }


@pytest.mark.parametrize("case", sorted(_refused_proofs()))
def test_each_invalid_proof_is_refused_at_login_and_issues_nothing(
    client: Client, user: Any, case: str
) -> None:
    response = login(client, user, _refused_proofs()[case]())

    assert_dpop_refused(response)
    assert not RefreshTokenFamily.objects.exists()


@pytest.mark.parametrize("case", ["stale iat", "wrong path", "another key's signature"])
def test_each_invalid_proof_is_refused_at_refresh_of_an_unbound_family(
    client: Client, user: Any, signer: Signer, case: str
) -> None:
    token = login(client, user).json()["refresh_token"]
    proof = {
        "stale iat": lambda: proof_for(signer, REFRESH, iat=int(time.time()) - 3600),
        "wrong path": lambda: proof_for(signer, LOGIN),
        "another key's signature": lambda: proof_for(Signer(jwk=signer.jwk), REFRESH),
    }[case]()

    assert_dpop_refused(refresh(client, token, proof))
    assert (family().generation, family().dpop_jkt) == (0, None)


def test_the_htu_ignores_query_and_fragment(client: Client, user: Any, signer: Signer) -> None:
    response = login(client, user, proof_for(signer, LOGIN + "?next=/x#frag"))

    assert response.status_code == 200, response.content
    body = {"username": user.username, "password": PASSWORD}
    queried = post_json(client, "/auth/login/?a=1", body, HTTP_DPOP=proof_for(signer, LOGIN))
    assert queried.status_code == 200, queried.content


def test_the_htu_is_the_uri_django_builds_behind_a_proxy(
    client: Client, user: Any, signer: Signer, settings: Any
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = ["*"]
    proxied = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "api.example"}

    response = login(client, user, proof_for(signer, "https://api.example/auth/login/"), **proxied)

    assert response.status_code == 200, response.content
    assert_dpop_refused(login(client, user, proof_for(signer, LOGIN), **proxied))


def test_cookie_mode_binds_too(client: Client, user: Any, signer: Signer, settings: Any) -> None:
    settings.TOKENAUTH = {**settings.TOKENAUTH, "REFRESH_COOKIE": {}}
    csrf = {
        "secure": True,
        "HTTP_X_REQUESTED_WITH": "XMLHttpRequest",
        "HTTP_ORIGIN": "https://testserver",
    }
    https = "https://testserver/auth/"

    first = login(client, user, proof_for(signer, https + "login/"), **csrf)
    assert first.json()["token_type"] == "DPoP", first.content
    assert "refresh_token" not in first.json()

    refused = post_json(client, "/auth/refresh/", {}, **csrf)
    assert_dpop_refused(refused)
    proof = proof_for(signer, https + "refresh/")
    again = post_json(client, "/auth/refresh/", {}, HTTP_DPOP=proof, **csrf)
    assert again.status_code == 200, again.content
    assert again.json()["token_type"] == "DPoP"


def _statements(action: Any) -> tuple[Any, list[str]]:
    from tests.test_query_budgets import statements

    return statements(action)


def test_dpop_login_refresh_and_grace_cost_the_statements_bearer_ones_do(
    client: Client, user: Any, signer: Signer
) -> None:
    def flow(proof: Any) -> list[int]:
        logged_in, login_sql = _statements(lambda: login(client, user, proof(LOGIN)))
        token = logged_in.json()["refresh_token"]
        rotated, rotate_sql = _statements(lambda: refresh(client, token, proof(REFRESH)))
        grace, grace_sql = _statements(lambda: refresh(client, token, proof(REFRESH)))
        assert logged_in.status_code == rotated.status_code == grace.status_code == 200
        return [len(login_sql), len(rotate_sql), len(grace_sql)]

    bearer = flow(lambda url: None)
    bound = flow(lambda url: proof_for(signer, url))

    assert bound == bearer == [3, 2, 1]


def test_a_refresh_that_binds_costs_no_extra_statement(
    client: Client, user: Any, signer: Signer
) -> None:
    token = login(client, user).json()["refresh_token"]

    response, sql = _statements(lambda: refresh(client, token, proof_for(signer, REFRESH)))

    assert response.json()["token_type"] == "DPoP"
    assert len(sql) == 2, sql  # the read, the compare-and-set UPDATE that also binds


def test_the_openapi_schema_names_the_dpop_scheme_unless_off(
    settings: Any, tokenauth_settings: Any
) -> None:
    pytest.importorskip("drf_spectacular")
    from drf_spectacular.generators import SchemaGenerator

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    }

    def schemes() -> dict[str, Any]:
        schema = SchemaGenerator().get_schema(request=None, public=True)
        return dict(schema["components"]["securitySchemes"]), schema["paths"]["/api/me/"]["get"]

    found, me = schemes()
    assert found["DPoP"] == {
        "type": "http",
        "scheme": "DPoP",
        "description": found["DPoP"]["description"],
    }
    assert me["security"] == [{"Bearer": []}, {"DPoP": []}]
    tokenauth_settings(DPOP="off")
    assert set(schemes()[0]) == {"Bearer"}
