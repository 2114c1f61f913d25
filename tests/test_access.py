"""Access tokens: what ``encode_access_token`` signs, all that ``decode_access_token`` refuses."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import private_pem, public_pem
from tokenauth import _refresh_tokens, keys
from tokenauth.access import (
    AccessClaims,
    InvalidAccessToken,
    decode_access_token,
    encode_access_token,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LIFETIME = timedelta(minutes=15)
SID = "c2lkLWZvci10ZXN0cy0wMQ"


# --- helpers ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _issue(*, now: datetime = NOW, user_id: str = "42", lifetime: timedelta = LIFETIME) -> str:
    return encode_access_token(
        user_id=user_id,
        family_public_id=SID,
        password_version="0123456789",
        now=now,
        expires_at=now + lifetime,
    )


def _unverified(access_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(access_token)
    payload = jwt.decode(access_token, options={"verify_signature": False})
    return header, payload


def _claims(now: datetime = NOW, **overrides: Any) -> dict[str, Any]:
    """Valid claims of an access token issued at ``now``; a value of None drops the claim."""
    iat = int(now.timestamp())
    claims = {
        "sub": "42",
        "sid": SID,
        "pwv": "0123456789",
        "jti": "test-jti",
        "iat": iat,
        "exp": iat + int(LIFETIME.total_seconds()),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _header(**overrides: Any) -> dict[str, Any]:
    """The header our signing key would write; a value of None drops the member."""
    signing = keys.get_key_set().signing
    header = {"alg": signing.algorithm, "typ": "at+jwt", "kid": signing.kid}
    header.update(overrides)
    return {name: value for name, value in header.items() if value is not None}


def _sign(signing_input: bytes, algorithm: str, key: Any) -> bytes:
    if algorithm == "none":
        return b""
    if algorithm.startswith("HS"):  # raw HMAC: PyJWT would refuse a PEM as an HMAC secret
        secret = key.encode() if isinstance(key, str) else key
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        return hmac.new(secret, signing_input, digest[algorithm]).digest()
    jws_algorithm = jwt.get_algorithm_by_name(algorithm)
    return jws_algorithm.sign(signing_input, jws_algorithm.prepare_key(key))


def _forge(
    header: dict[str, Any] | None = None,
    payload: dict[str, Any] | bytes | None = None,
    *,
    key: Any = None,
    algorithm: str | None = None,
) -> str:
    """A compact JWS built by hand, signed with ``key`` (default: our signing key)."""
    header = _header() if header is None else header
    payload = _claims() if payload is None else payload
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(body)}".encode("ascii")
    signing = keys.get_key_set().signing
    signature = _sign(
        signing_input,
        algorithm or header.get("alg", signing.algorithm),
        signing.signing_key if key is None else key,
    )
    return f"{signing_input.decode('ascii')}.{_b64(signature)}"


def _decode_at(access_token: str, when: datetime = NOW) -> AccessClaims:
    with time_machine.travel(when, tick=False):
        return decode_access_token(access_token)


def assert_refused(access_token: str, when: datetime = NOW) -> None:
    with pytest.raises(InvalidAccessToken):
        _decode_at(access_token, when)


_KEY_FACTORIES = {
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}
_REQUIRED_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def _rfc7638_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the required members, lexicographic order, no whitespace."""
    members = {name: jwk[name] for name in _REQUIRED_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def _to_jwk(algorithm: str, public_key: Any) -> dict[str, Any]:
    jws_algorithm = jwt.get_algorithm_by_name(algorithm)
    return jws_algorithm.to_jwk(public_key, as_dict=True)


@pytest.fixture
def asymmetric(tokenauth_settings: Any, request: pytest.FixtureRequest) -> Any:
    """Configure ALGORITHM = request.param with a freshly generated private key; return it."""
    algorithm = request.param
    private_key = _KEY_FACTORIES[algorithm]()
    tokenauth_settings(ALGORITHM=algorithm, SIGNING_KEY=private_pem(private_key))
    return algorithm, private_key


# --- encoding -----------------------------------------------------------------------------


def test_header_is_rfc9068_typed_and_names_the_signing_key() -> None:
    header, _ = _unverified(_issue())

    assert header == {"alg": "HS256", "typ": "at+jwt", "kid": keys.get_key_set().signing.kid}
    assert isinstance(header["kid"], str)
    assert header["kid"]


def test_claims_carry_subject_family_times_and_password_version() -> None:
    _, payload = _unverified(_issue(user_id="42"))

    assert payload["sub"] == "42"
    assert payload["sid"] == SID
    assert payload["pwv"] == "0123456789"
    assert payload["iat"] == int(NOW.timestamp())
    assert payload["exp"] == int((NOW + LIFETIME).timestamp())
    assert isinstance(payload["jti"], str)
    assert len(payload["jti"]) >= 16
    assert "iss" not in payload
    assert "aud" not in payload


def test_each_token_gets_its_own_jti() -> None:
    jtis = {_unverified(_issue())[1]["jti"] for _ in range(20)}

    assert len(jtis) == 20


def test_issuer_and_audience_are_written_when_configured(tokenauth_settings: Any) -> None:
    tokenauth_settings(ISSUER="https://issuer.example", AUDIENCE="https://api.example")

    access_token = _issue()

    _, payload = _unverified(access_token)
    assert payload["iss"] == "https://issuer.example"
    assert payload["aud"] == "https://api.example"
    assert _decode_at(access_token).user_id == "42"


def test_round_trip_returns_the_claims() -> None:
    claims = _decode_at(_issue(user_id="7"))

    assert claims.user_id == "7"
    assert claims.family_public_id == SID
    assert claims.password_version == "0123456789"
    assert claims.issued_at == int(NOW.timestamp())
    assert claims.expires_at == int((NOW + LIFETIME).timestamp())
    assert claims.jti


def test_hand_forged_token_with_the_right_key_is_accepted() -> None:
    # The control for every refusal below: the forging helper itself makes valid tokens.
    assert _decode_at(_forge()).user_id == "42"


# --- refusals: algorithm, type, key id ----------------------------------------------------


def test_alg_none_is_refused() -> None:
    unsigned = _forge(_header(alg="none"))
    assert unsigned.endswith(".")
    assert_refused(unsigned)
    assert_refused(_forge(_header(alg="none"), key=b"") + "c2ln")  # with a signature part anyway


def test_hs512_token_is_refused_when_hs256_is_configured() -> None:
    # Same secret, same kid: only the algorithm differs.
    assert_refused(_forge(_header(alg="HS512")))


def test_hs256_token_signed_with_the_public_key_is_refused_under_rs256(
    tokenauth_settings: Any,
) -> None:
    private_key = _KEY_FACTORIES["RS256"]()
    tokenauth_settings(ALGORITHM="RS256", SIGNING_KEY=private_pem(private_key))
    public = public_pem(private_key)
    kid = keys.get_key_set().signing.kid

    for secret in (public, public.encode(), public.strip()):
        assert_refused(_forge(_header(alg="HS256", kid=kid), key=secret, algorithm="HS256"))


def test_public_key_as_hmac_secret_is_refused_for_a_verifying_key_too(
    tokenauth_settings: Any,
) -> None:
    old_key = _KEY_FACTORIES["RS256"]()
    tokenauth_settings(
        VERIFYING_KEYS=[{"kid": "old-rsa", "key": public_pem(old_key), "algorithm": "RS256"}]
    )

    assert_refused(
        _forge(_header(alg="HS256", kid="old-rsa"), key=public_pem(old_key), algorithm="HS256")
    )


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT+x", "application/jwt", "", "JOSE", 1])
def test_wrong_typ_is_refused(typ: Any) -> None:
    assert_refused(_forge(_header(typ=typ)))


def test_missing_typ_is_refused() -> None:
    header = _header()
    del header["typ"]

    assert_refused(_forge(header))


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/AT+JWT"])
def test_rfc9068_typ_spellings_are_accepted(typ: str) -> None:
    assert _decode_at(_forge(_header(typ=typ))).user_id == "42"


def test_missing_kid_is_refused() -> None:
    header = _header()
    del header["kid"]

    assert_refused(_forge(header))


@pytest.mark.parametrize("kid", ["unknown", "", 0, ["x"], {"kid": "x"}, None])
def test_unknown_or_malformed_kid_is_refused(kid: Any) -> None:
    header = _header()
    header["kid"] = kid

    assert_refused(_forge(header))


# --- refusals: claims ---------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "sid", "pwv"])
def test_token_without_a_required_claim_is_refused(claim: str) -> None:
    assert_refused(_forge(payload=_claims(**{claim: None})))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", 42),
        ("sid", ["x"]),
        ("pwv", 1),
        ("exp", "soon"),
        ("iat", "now"),
        ("iat", True),  # a bool is an int to isinstance(), never a NumericDate
        ("jti", 5),
    ],
)
def test_claim_of_the_wrong_type_is_refused(claim: str, value: Any) -> None:
    assert_refused(_forge(payload=_claims(**{claim: value})))


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://evil.example"},
        {"iss": None},
        {"aud": "https://other.example"},
        {"aud": None},
        {"aud": ["https://other.example"]},
    ],
)
def test_wrong_or_missing_issuer_or_audience_is_refused(
    tokenauth_settings: Any, overrides: dict[str, Any]
) -> None:
    tokenauth_settings(ISSUER="https://issuer.example", AUDIENCE="https://api.example")
    good = {"iss": "https://issuer.example", "aud": "https://api.example"}
    assert _decode_at(_forge(payload=_claims(**good))).user_id == "42"

    assert_refused(_forge(payload=_claims(**{**good, **overrides})))


def test_token_for_some_audience_is_refused_when_none_is_configured() -> None:
    assert_refused(_forge(payload=_claims(aud="https://other.example")))


def test_expired_token_is_refused() -> None:
    access_token = _issue()
    expires_at = NOW + LIFETIME

    assert _decode_at(access_token, expires_at - timedelta(seconds=1)).user_id == "42"
    assert_refused(access_token, expires_at)
    assert_refused(access_token, expires_at + timedelta(days=1))


def test_leeway_is_honoured(tokenauth_settings: Any) -> None:
    access_token = _issue()
    expires_at = NOW + LIFETIME
    assert_refused(access_token, expires_at + timedelta(seconds=10))

    tokenauth_settings(LEEWAY=timedelta(seconds=30))

    assert _decode_at(access_token, expires_at + timedelta(seconds=10)).user_id == "42"
    assert _decode_at(access_token, expires_at + timedelta(seconds=29)).user_id == "42"
    assert_refused(access_token, expires_at + timedelta(seconds=31))


# --- refusals: not a token of ours at all -------------------------------------------------


def test_refresh_token_is_refused_as_access_token() -> None:
    refresh_token = _refresh_tokens.make_refresh_token(
        family_secret=_refresh_tokens.new_family_secret(),
        public_id=_refresh_tokens.new_public_id(),
        generation=3,
    )
    assert refresh_token.startswith("tkrt_")

    assert_refused(refresh_token)


def test_64_kb_token_is_refused() -> None:
    big = _forge(payload=_claims(padding="x" * 64 * 1024))
    assert len(big) > 64 * 1024
    assert_refused(big)
    assert_refused("a" * 32 * 1024 + "." + "b" * 32 * 1024 + ".c")


@pytest.mark.parametrize("depth", [1000, 5000, 50_000])
def test_deeply_nested_header_is_refused(depth: int) -> None:
    header = _header()
    header_json = json.dumps(header)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    body = _b64(json.dumps(_claims()).encode())
    assert_refused(f"{_b64(header_json.encode())}.{body}.{_b64(b'signature')}")


@pytest.mark.parametrize("depth", [5000, 50_000])
def test_deeply_nested_payload_is_refused(depth: int) -> None:
    payload = json.dumps(_claims())[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    assert_refused(_forge(payload=payload.encode()))


def test_nested_payload_within_the_size_limit_raises_only_invalid_access_token() -> None:
    # Deep enough to hit the JSON parser's recursion limit, short enough to reach it.
    payload = json.dumps(_claims())[:-1] + ', "x": ' + "[" * 1000 + "]" * 1000 + "}"
    access_token = _forge(payload=payload.encode())
    assert len(access_token) < 4096

    with contextlib.suppress(InvalidAccessToken):  # anything else escaping fails the test
        _decode_at(access_token)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "..",
        "a.b.c",
        "ünïcödé.ünïcödé.ünïcödé",
        "日本語.トークン.です",
        "\x00\x01\x02.\x03.\x04",
        "\ud800.\udfff.x",
        "🔑" * 200,
        "eyJhbGciOiJIUzI1NiJ9",
        "Bearer abc.def.ghi",
        " " + "a.b.c",
    ],
)
def test_non_ascii_and_garbage_strings_are_refused(garbage: str) -> None:
    assert_refused(garbage)


@pytest.mark.parametrize(
    "payload",
    [b"[1, 2, 3]", b"not json", b"\xff\xfe\xfd", b'"a string"', b"null", b"{}"],
)
def test_signed_payload_that_is_not_a_claims_object_is_refused(payload: bytes) -> None:
    assert_refused(_forge(payload=payload))


@pytest.mark.parametrize("header_json", [b"[]", b"null", b"\xff\xfe", b"{", b'"at+jwt"'])
def test_header_that_is_not_a_json_object_is_refused(header_json: bytes) -> None:
    body = _b64(json.dumps(_claims()).encode())
    assert_refused(f"{_b64(header_json)}.{body}.{_b64(b'signature')}")


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.from_regex(r"\A[A-Za-z0-9_-]{1,80}\.[A-Za-z0-9_-]{1,80}\.[A-Za-z0-9_-]{1,80}\Z"),
        st.builds(
            lambda header, payload, signature: f"{_b64(header)}.{_b64(payload)}.{_b64(signature)}",
            st.binary(min_size=1, max_size=120),
            st.binary(min_size=1, max_size=120),
            st.binary(min_size=1, max_size=80),
        ),
    )
)
def test_any_random_string_is_refused_with_invalid_access_token(candidate: str) -> None:
    with pytest.raises(InvalidAccessToken):
        decode_access_token(candidate)


# --- keys: HS* ----------------------------------------------------------------------------


def test_signing_key_is_used_when_set(tokenauth_settings: Any) -> None:
    secret = "a-signing-key-of-at-least-32-bytes-0123456789"
    tokenauth_settings(SIGNING_KEY=secret)

    access_token = _issue()

    payload = jwt.decode(access_token, secret, algorithms=["HS256"], options={"verify_exp": False})
    assert payload["sub"] == "42"
    assert _decode_at(access_token).user_id == "42"


def test_signing_key_id_becomes_the_kid(tokenauth_settings: Any) -> None:
    tokenauth_settings(SIGNING_KEY_ID="2026-03")

    access_token = _issue()

    assert jwt.get_unverified_header(access_token)["kid"] == "2026-03"
    assert _decode_at(access_token).user_id == "42"


def test_default_hs_key_is_derived_from_secret_key_not_secret_key_itself(
    settings: Any,
) -> None:
    access_token = _issue()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            access_token, settings.SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False}
        )

    assert_refused(_forge(key=settings.SECRET_KEY))
    raw_kid = _b64(
        hashlib.sha256(
            json.dumps(
                {"k": _b64(settings.SECRET_KEY.encode()), "kty": "oct"},
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        ).digest()
    )
    assert_refused(_forge(_header(kid=raw_kid), key=settings.SECRET_KEY))


def test_default_hs_key_changes_with_secret_key(settings: Any) -> None:
    access_token = _issue()

    settings.SECRET_KEY = "another-secret-key-for-this-deployment-0123456789-abcdef"

    assert_refused(access_token)


def test_tokens_signed_before_a_secret_key_rotation_verify_from_the_fallbacks(
    settings: Any,
) -> None:
    old_secret = settings.SECRET_KEY
    access_token = _issue()

    settings.SECRET_KEY = "the-new-secret-key-after-rotation-0123456789-abcdef"
    settings.SECRET_KEY_FALLBACKS = [old_secret]

    assert _decode_at(access_token).user_id == "42"
    new_token = _issue()
    assert (
        jwt.get_unverified_header(new_token)["kid"]
        != jwt.get_unverified_header(access_token)["kid"]
    )
    assert _decode_at(new_token).user_id == "42"

    settings.SECRET_KEY_FALLBACKS = []

    assert_refused(access_token)
    assert _decode_at(new_token).user_id == "42"


def test_verifying_keys_accept_the_previous_hs_key_by_kid(tokenauth_settings: Any) -> None:
    old_secret = "the-previous-signing-key-0123456789-abcdef"
    tokenauth_settings(SIGNING_KEY=old_secret, SIGNING_KEY_ID="2026-01")
    old_token = _issue()

    tokenauth_settings(
        SIGNING_KEY="the-current-signing-key-0123456789-abcdef", SIGNING_KEY_ID="2026-02"
    )
    assert_refused(old_token)

    tokenauth_settings(VERIFYING_KEYS=[{"kid": "2026-01", "key": old_secret}])
    assert _decode_at(old_token).user_id == "42"
    assert jwt.get_unverified_header(_issue())["kid"] == "2026-02"
    # The kid picks the key: the old secret under another kid is refused.
    assert_refused(_forge(_header(kid="2026-02"), key=old_secret))
    assert_refused(_forge(_header(kid="2026-01"), key="some-other-secret-of-32-bytes-0123456789"))


# --- keys: asymmetric ---------------------------------------------------------------------


@pytest.mark.parametrize("asymmetric", ["RS256", "PS256", "ES256", "ES384", "EdDSA"], indirect=True)
def test_asymmetric_tokens_round_trip(asymmetric: Any) -> None:
    algorithm, private_key = asymmetric

    access_token = _issue()

    header, _ = _unverified(access_token)
    assert header["alg"] == algorithm
    assert header["typ"] == "at+jwt"
    assert _decode_at(access_token).user_id == "42"
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
    other_key = _KEY_FACTORIES[algorithm]()

    assert_refused(_forge(key=other_key))
    assert _decode_at(_forge()).user_id == "42"


@pytest.mark.parametrize("asymmetric", ["RS256", "ES256", "EdDSA"], indirect=True)
def test_jwks_exports_the_public_key_with_the_rfc7638_thumbprint_as_kid(asymmetric: Any) -> None:
    algorithm, private_key = asymmetric
    expected = _to_jwk(algorithm, private_key.public_key())

    key_set = keys.jwks()

    assert len(key_set["keys"]) == 1
    (jwk,) = key_set["keys"]
    for member in _REQUIRED_MEMBERS[expected["kty"]]:
        assert jwk[member] == expected[member]
    assert jwk["kid"] == _rfc7638_thumbprint(expected)
    assert jwk["alg"] == algorithm
    assert jwk["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
    assert jwt.get_unverified_header(_issue())["kid"] == jwk["kid"]
    parsed = jwt.PyJWK(jwk)
    assert _to_jwk(algorithm, parsed.key) == expected


@pytest.mark.parametrize("asymmetric", ["RS256", "ES256", "EdDSA"], indirect=True)
def test_a_jose_library_verifies_our_token_from_the_jwks(asymmetric: Any) -> None:
    algorithm, _ = asymmetric
    access_token = _issue(now=datetime.now(timezone.utc))
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

    assert _rfc7638_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_jwks_is_empty_for_hs_algorithms(tokenauth_settings: Any) -> None:
    assert keys.jwks() == {"keys": []}
    tokenauth_settings(
        VERIFYING_KEYS=[{"kid": "old", "key": "an-old-hmac-secret-0123456789-abcdef"}]
    )
    assert keys.jwks() == {"keys": []}


def test_asymmetric_key_rotation_keeps_old_tokens_and_publishes_both_keys(
    tokenauth_settings: Any,
) -> None:
    old_key, new_key = _KEY_FACTORIES["RS256"](), _KEY_FACTORIES["ES256"]()
    tokenauth_settings(ALGORITHM="RS256", SIGNING_KEY=private_pem(old_key))
    old_token = _issue()
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    tokenauth_settings(
        ALGORITHM="ES256",
        SIGNING_KEY=private_pem(new_key),
        VERIFYING_KEYS=[{"kid": old_kid, "key": public_pem(old_key), "algorithm": "RS256"}],
    )

    assert _decode_at(old_token).user_id == "42"
    new_token = _issue()
    assert jwt.get_unverified_header(new_token)["alg"] == "ES256"
    assert _decode_at(new_token).user_id == "42"
    published = {jwk["kid"]: jwk for jwk in keys.jwks()["keys"]}
    assert set(published) == {old_kid, jwt.get_unverified_header(new_token)["kid"]}
    assert published[old_kid]["kty"] == "RSA"
    # The entry's algorithm is the only one its kid accepts.
    assert_refused(
        _forge(_header(alg="HS256", kid=old_kid), key=public_pem(old_key), algorithm="HS256")
    )
    assert_refused(_forge(_header(alg="PS256", kid=old_kid), key=old_key, algorithm="PS256"))


def test_settings_override_reloads_the_keys() -> None:
    first_kid = jwt.get_unverified_header(_issue())["kid"]

    with override_settings(TOKENAUTH={"SIGNING_KEY": "an-overridden-signing-key-0123456789-abc"}):
        overridden = _issue()
        assert jwt.get_unverified_header(overridden)["kid"] != first_kid
        assert _decode_at(overridden).user_id == "42"

    assert jwt.get_unverified_header(_issue())["kid"] == first_kid
    assert_refused(overridden)


# --- what verification keeps between tokens follows settings and keys at once -------------


def test_a_new_key_under_the_same_kid_refuses_old_tokens_at_once() -> None:
    base = {"SIGNING_KEY_ID": "k1"}
    with override_settings(
        TOKENAUTH={**base, "SIGNING_KEY": "first-signing-key-0123456789-abcdef"}
    ):
        old = _issue()
        assert _decode_at(old).user_id == "42"  # the verifier for kid k1 is now prepared
    with override_settings(
        TOKENAUTH={**base, "SIGNING_KEY": "second-signing-key-0123456789-abcde"}
    ):
        new = _issue()
        assert jwt.get_unverified_header(new)["kid"] == jwt.get_unverified_header(old)["kid"]
        assert _decode_at(new).user_id == "42"
        assert_refused(old)
    with override_settings(
        TOKENAUTH={**base, "SIGNING_KEY": "first-signing-key-0123456789-abcdef"}
    ):
        assert _decode_at(old).user_id == "42"
        assert_refused(new)


def test_issuer_and_audience_settings_apply_to_the_next_token(tokenauth_settings: Any) -> None:
    plain = _issue()
    assert _decode_at(plain).user_id == "42"

    tokenauth_settings(ISSUER="https://issuer.example")
    assert_refused(plain)
    with_issuer = _issue()
    assert _decode_at(with_issuer).user_id == "42"

    tokenauth_settings(AUDIENCE=["https://a.example", "https://b.example"])
    assert_refused(with_issuer)
    assert _decode_at(_issue()).user_id == "42"
    assert _decode_at(
        _forge(payload=_claims(iss="https://issuer.example", aud="https://b.example"))
    )
    assert_refused(_forge(payload=_claims(iss="https://issuer.example", aud="https://c.example")))


def test_dropping_a_verifying_key_refuses_its_tokens_at_once(tokenauth_settings: Any) -> None:
    old_secret = "the-previous-signing-key-0123456789-abc"
    tokenauth_settings(SIGNING_KEY=old_secret, SIGNING_KEY_ID="old")
    old = _issue()
    tokenauth_settings(
        SIGNING_KEY="the-current-signing-key-0123456789-abcd",
        SIGNING_KEY_ID="new",
        VERIFYING_KEYS=[{"kid": "old", "algorithm": "HS256", "key": old_secret}],
    )
    assert _decode_at(old).user_id == "42"

    tokenauth_settings(VERIFYING_KEYS=[])

    assert_refused(old)


# --- refusals: a valid signature in a spelling or header we do not issue ------------------


def test_signature_in_a_non_canonical_base64url_spelling_is_refused() -> None:
    access_token = _issue()
    signing_input, _, signature = access_token.rpartition(".")
    assert len(signature) % 4 == 3  # HS256: 32 bytes, so the last character has 2 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(signature[-1]) ^ 1]  # same bytes, another string
    same_bytes = f"{signing_input}.{signature[:-1]}{twin}"
    assert base64.urlsafe_b64decode(
        same_bytes.rpartition(".")[2] + "="
    ) == base64.urlsafe_b64decode(signature + "=")

    assert _decode_at(access_token).user_id == "42"
    assert_refused(same_bytes)


@pytest.mark.parametrize(
    "extra",
    [{"crit": ["exp"]}, {"crit": ["b64"], "b64": False}, {"b64": False}, {"crit": []}],
    ids=["crit", "crit-b64", "b64-false", "crit-empty"],
)
def test_header_with_critical_or_unencoded_payload_members_is_refused(
    extra: dict[str, Any],
) -> None:
    assert_refused(_forge(_header(**extra)))


def test_signature_segment_of_an_impossible_length_is_refused() -> None:
    access_token = _issue()
    assert_refused(access_token + "A" * (4 - len(access_token.rpartition(".")[2]) % 4 + 1))


# --- the registered claims: refused exactly where jwt.decode refuses them -----------------

_NOW_S = int(NOW.timestamp())
_instants = st.one_of(
    st.sampled_from([_NOW_S + d for d in (-31, -30, -29, -1, 0, 1, 29, 30, 31)]),  # the edges
    st.integers(min_value=_NOW_S - 60, max_value=_NOW_S + 60),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, True, str(_NOW_S), "soon", [], {}]),
)
_names = st.one_of(
    st.sampled_from([None, "https://issuer.example", "https://a.example", "https://b.example", ""]),
    st.lists(st.sampled_from(["https://a.example", "https://b.example", "https://c.example", 7])),
    st.integers(),
)
_HOSTILE = {"iat": _instants, "exp": _instants, "nbf": _instants, "iss": _names, "aud": _names}


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    claim=st.sampled_from(sorted(_HOSTILE)),
    data=st.data(),
    issuer=st.sampled_from([None, "https://issuer.example"]),
    audience=st.sampled_from(
        [None, "https://a.example", ("https://a.example", "https://b.example")]
    ),
    leeway=st.sampled_from([0, 30]),
)
def test_registered_claims_are_refused_where_jwt_decode_refuses_them(
    claim: str, data: Any, issuer: Any, audience: Any, leeway: int
) -> None:
    # One claim hostile, the others as the settings want them.
    claims: dict[str, Any] = _claims()
    claims.update(iss=issuer, aud=audience if isinstance(audience, str) else list(audience or []))
    claims[claim] = data.draw(_HOSTILE[claim], label=claim)
    setting = {"ISSUER": issuer, "AUDIENCE": audience, "LEEWAY": timedelta(seconds=leeway)}
    with override_settings(TOKENAUTH=setting), time_machine.travel(NOW, tick=False):
        access_token = _forge(payload=json.dumps(claims, allow_nan=True).encode())
        signing = keys.get_key_set().signing
        try:
            jwt.decode(
                access_token,
                signing.verifying_key,
                algorithms=[signing.algorithm],
                options={"require": ["exp", "iat", "sub", "sid"]},
                audience=list(audience) if isinstance(audience, tuple) else audience,
                issuer=issuer,
                leeway=leeway,
            )
            pyjwt_accepts = True
        except (jwt.PyJWTError, TypeError):
            pyjwt_accepts = False
        try:
            decode_access_token(access_token)
            we_accept = True
        except InvalidAccessToken:
            we_accept = False
    assert we_accept <= pyjwt_accepts  # no check lost
    if claim not in ("iat", "exp") or type(claims[claim]) is int:  # iat/exp: ints only, by us
        assert we_accept == pyjwt_accepts  # and none added


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_iat_and_nbf_in_the_future_are_accepted_within_the_leeway_only(
    tokenauth_settings: Any, claim: str
) -> None:
    soon = _forge(payload=_claims(**{claim: _NOW_S + 20}))
    assert_refused(soon)

    tokenauth_settings(LEEWAY=timedelta(seconds=30))

    assert _decode_at(soon).user_id == "42"
    assert_refused(_forge(payload=_claims(**{claim: _NOW_S + 31})))
