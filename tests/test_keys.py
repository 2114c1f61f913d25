"""Signing and verifying keys (``tokenauth.keys``): which key signs, which keys verify (by
``kid``), how they follow ``SECRET_KEY`` and ``TOKENAUTH``, the JWKS export, and secrets kept out
of sight."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import jwt
import pytest
from django.test import override_settings

from tests.access_tokens import (
    KEY_FACTORIES,
    REQUIRED_MEMBERS,
    SID,
    assert_refused,
    b64url,
    decode_at,
    forge_token,
    issue_token,
    rfc7638_thumbprint,
    to_jwk,
    token_header,
    unverified,
)
from tests.conftest import private_pem, public_pem
from tokenauth import keys


@pytest.fixture
def asymmetric(tokenauth_settings: Any, request: pytest.FixtureRequest) -> Any:
    """Configure ALGORITHM = request.param with a freshly generated private key; return it."""
    algorithm = request.param
    private_key = KEY_FACTORIES[algorithm]()
    tokenauth_settings(ALGORITHM=algorithm, SIGNING_KEY=private_pem(private_key))
    return algorithm, private_key


# --- HS* ----------------------------------------------------------------------------------


def test_signing_key_is_used_when_set(tokenauth_settings: Any) -> None:
    secret = "a-signing-key-of-at-least-32-bytes-0123456789"
    tokenauth_settings(SIGNING_KEY=secret)

    access_token = issue_token()

    payload = jwt.decode(access_token, secret, algorithms=["HS256"], options={"verify_exp": False})
    assert payload["sub"] == "42"
    assert decode_at(access_token).user_id == "42"


def test_signing_key_id_becomes_the_kid(tokenauth_settings: Any) -> None:
    tokenauth_settings(SIGNING_KEY_ID="2026-03")

    access_token = issue_token()

    assert jwt.get_unverified_header(access_token)["kid"] == "2026-03"
    assert decode_at(access_token).user_id == "42"


def test_default_hs_key_is_derived_from_secret_key_not_secret_key_itself(
    settings: Any,
) -> None:
    access_token = issue_token()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            access_token, settings.SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False}
        )

    assert_refused(forge_token(key=settings.SECRET_KEY))
    raw_kid = b64url(
        hashlib.sha256(
            json.dumps(
                {"k": b64url(settings.SECRET_KEY.encode()), "kty": "oct"},
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        ).digest()
    )
    assert_refused(forge_token(token_header(kid=raw_kid), key=settings.SECRET_KEY))


def test_default_hs_key_changes_with_secret_key(settings: Any) -> None:
    access_token = issue_token()

    settings.SECRET_KEY = "another-secret-key-for-this-deployment-0123456789-abcdef"

    assert_refused(access_token)


def test_tokens_signed_before_a_secret_key_rotation_verify_from_the_fallbacks(
    settings: Any,
) -> None:
    old_secret = settings.SECRET_KEY
    access_token = issue_token()

    settings.SECRET_KEY = "the-new-secret-key-after-rotation-0123456789-abcdef"
    settings.SECRET_KEY_FALLBACKS = [old_secret]

    assert decode_at(access_token).user_id == "42"
    new_token = issue_token()
    assert (
        jwt.get_unverified_header(new_token)["kid"]
        != jwt.get_unverified_header(access_token)["kid"]
    )
    assert decode_at(new_token).user_id == "42"

    settings.SECRET_KEY_FALLBACKS = []

    assert_refused(access_token)
    assert decode_at(new_token).user_id == "42"


def test_verifying_keys_accept_the_previous_hs_key_by_kid(tokenauth_settings: Any) -> None:
    old_secret = "the-previous-signing-key-0123456789-abcdef"
    tokenauth_settings(SIGNING_KEY=old_secret, SIGNING_KEY_ID="2026-01")
    old_token = issue_token()

    tokenauth_settings(
        SIGNING_KEY="the-current-signing-key-0123456789-abcdef", SIGNING_KEY_ID="2026-02"
    )
    assert_refused(old_token)

    tokenauth_settings(VERIFYING_KEYS=[{"kid": "2026-01", "key": old_secret}])
    assert decode_at(old_token).user_id == "42"
    assert jwt.get_unverified_header(issue_token())["kid"] == "2026-02"
    # The kid picks the key: the old secret under another kid is refused.
    assert_refused(forge_token(token_header(kid="2026-02"), key=old_secret))
    assert_refused(
        forge_token(token_header(kid="2026-01"), key="some-other-secret-of-32-bytes-0123456789")
    )


# --- asymmetric ---------------------------------------------------------------------------


@pytest.mark.parametrize("asymmetric", ["RS256", "PS256", "ES256", "ES384", "EdDSA"], indirect=True)
def test_asymmetric_tokens_round_trip(asymmetric: Any) -> None:
    algorithm, private_key = asymmetric

    access_token = issue_token()

    header, _ = unverified(access_token)
    assert header["alg"] == algorithm
    assert header["typ"] == "at+jwt"
    assert decode_at(access_token).user_id == "42"
    payload = jwt.decode(
        access_token,
        private_key.public_key(),
        algorithms=[algorithm],
        options={"verify_exp": False},
    )
    assert payload["sub"] == "42"


@pytest.mark.parametrize("asymmetric", ["RS256", "ES256", "EdDSA"], indirect=True)
def test_asymmetric_token_signed_by_another_key_is_refused(asymmetric: Any) -> None:
    algorithm, _ = asymmetric
    other_key = KEY_FACTORIES[algorithm]()

    assert_refused(forge_token(key=other_key))
    assert decode_at(forge_token()).user_id == "42"


@pytest.mark.parametrize("asymmetric", ["RS256", "ES256", "EdDSA"], indirect=True)
def test_jwks_exports_the_public_key_with_the_rfc7638_thumbprint_as_kid(asymmetric: Any) -> None:
    algorithm, private_key = asymmetric
    expected = to_jwk(algorithm, private_key.public_key())

    key_set = keys.jwks()

    assert len(key_set["keys"]) == 1
    (jwk,) = key_set["keys"]
    for member in REQUIRED_MEMBERS[expected["kty"]]:
        assert jwk[member] == expected[member]
    assert jwk["kid"] == rfc7638_thumbprint(expected)
    assert jwk["alg"] == algorithm
    assert jwk["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
    assert jwt.get_unverified_header(issue_token())["kid"] == jwk["kid"]
    parsed = jwt.PyJWK(jwk)
    assert to_jwk(algorithm, parsed.key) == expected


@pytest.mark.parametrize("asymmetric", ["RS256", "ES256", "EdDSA"], indirect=True)
def test_a_jose_library_verifies_our_token_from_the_jwks(asymmetric: Any) -> None:
    algorithm, _ = asymmetric
    access_token = issue_token(now=datetime.now(timezone.utc))
    jwk_set = jwt.PyJWKSet.from_dict(json.loads(json.dumps(keys.jwks())))

    signing_jwk = jwk_set[jwt.get_unverified_header(access_token)["kid"]]
    payload = jwt.decode(access_token, signing_jwk.key, algorithms=[signing_jwk.algorithm_name])

    assert signing_jwk.algorithm_name == algorithm
    assert payload["sub"] == "42"
    assert payload["sid"] == SID


def test_rfc7638_thumbprint_helper_matches_the_rfc_example() -> None:
    # RFC 7638 §3.1: the helper the tests above rely on reproduces the RFC's own result.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
            "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvz"
            "qY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu"
            "0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }

    assert rfc7638_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_jwks_is_empty_for_hs_algorithms(tokenauth_settings: Any) -> None:
    assert keys.jwks() == {"keys": []}
    tokenauth_settings(
        VERIFYING_KEYS=[{"kid": "old", "key": "an-old-hmac-secret-0123456789-abcdef"}]
    )
    assert keys.jwks() == {"keys": []}


def test_asymmetric_key_rotation_keeps_old_tokens_and_publishes_both_keys(
    tokenauth_settings: Any,
) -> None:
    old_key, new_key = KEY_FACTORIES["RS256"](), KEY_FACTORIES["ES256"]()
    tokenauth_settings(ALGORITHM="RS256", SIGNING_KEY=private_pem(old_key))
    old_token = issue_token()
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    tokenauth_settings(
        ALGORITHM="ES256",
        SIGNING_KEY=private_pem(new_key),
        VERIFYING_KEYS=[{"kid": old_kid, "key": public_pem(old_key), "algorithm": "RS256"}],
    )

    assert decode_at(old_token).user_id == "42"
    new_token = issue_token()
    assert jwt.get_unverified_header(new_token)["alg"] == "ES256"
    assert decode_at(new_token).user_id == "42"
    published = {jwk["kid"]: jwk for jwk in keys.jwks()["keys"]}
    assert set(published) == {old_kid, jwt.get_unverified_header(new_token)["kid"]}
    assert published[old_kid]["kty"] == "RSA"
    # The entry's algorithm is the only one its kid accepts.
    assert_refused(
        forge_token(
            token_header(alg="HS256", kid=old_kid), key=public_pem(old_key), algorithm="HS256"
        )
    )
    assert_refused(
        forge_token(token_header(alg="PS256", kid=old_kid), key=old_key, algorithm="PS256")
    )


def test_settings_override_reloads_the_keys() -> None:
    first_kid = jwt.get_unverified_header(issue_token())["kid"]

    with override_settings(TOKENAUTH={"SIGNING_KEY": "an-overridden-signing-key-0123456789-abc"}):
        overridden = issue_token()
        assert jwt.get_unverified_header(overridden)["kid"] != first_kid
        assert decode_at(overridden).user_id == "42"

    assert jwt.get_unverified_header(issue_token())["kid"] == first_kid
    assert_refused(overridden)


# --- reloading ----------------------------------------------------------------------------


def test_keys_reload_on_secret_key_and_tokenauth_changes(settings: Any) -> None:
    first = keys.get_key_set().signing.kid

    settings.SECRET_KEY = "another-secret-key-for-the-reload-test-0123456789"
    second = keys.get_key_set().signing.kid
    assert second != first

    settings.TOKENAUTH = {"SIGNING_KEY": "a-configured-signing-key-0123456789-abcdef"}
    assert keys.get_key_set().signing.kid not in (first, second)


# --- secrets stay out of reprs ------------------------------------------------------------


def _renderings(secret: bytes) -> list[str]:
    return [
        base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii"),
        base64.b64encode(secret).rstrip(b"=").decode("ascii"),
        secret.hex(),
        repr(secret),
    ]


def test_the_key_set_repr_does_not_contain_the_derived_hs_secret(settings: Any) -> None:
    settings.SECRET_KEY_FALLBACKS = ["old-tests-secret-key-that-is-long-enough-for-hmac-0123456"]
    key_set = keys.get_key_set()
    secrets = [key.verifying_key for key in key_set.by_kid.values()]
    assert key_set.signing.signing_key in secrets
    assert len(secrets) == 2
    assert all(isinstance(secret, bytes) and len(secret) >= 32 for secret in secrets)

    text = repr(key_set) + str(key_set) + repr(key_set.signing)

    for secret in secrets:
        for rendering in _renderings(secret):
            assert rendering not in text
