"""Access tokens: what ``encode_access_token`` signs, all that ``decode_access_token`` refuses."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
import time_machine
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.access_tokens import (
    KEY_FACTORIES,
    LIFETIME,
    NOW,
    SID,
    assert_refused,
    b64url,
    decode_at,
    forge_token,
    issue_token,
    token_claims,
    token_header,
    unverified,
)
from tests.conftest import private_pem, public_pem
from tokenauth import _refresh_tokens, keys
from tokenauth.access import (
    InvalidAccessToken,
    decode_access_token,
)

# --- encoding -----------------------------------------------------------------------------


def test_header_is_rfc9068_typed_and_names_the_signing_key() -> None:
    header, _ = unverified(issue_token())

    assert header == {"alg": "HS256", "typ": "at+jwt", "kid": keys.get_key_set().signing.kid}
    assert isinstance(header["kid"], str)
    assert header["kid"]


def test_claims_carry_subject_family_times_and_password_version() -> None:
    _, payload = unverified(issue_token(user_id="42"))

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
    jtis = {unverified(issue_token())[1]["jti"] for _ in range(20)}

    assert len(jtis) == 20


def test_issuer_and_audience_are_written_when_configured(tokenauth_settings: Any) -> None:
    tokenauth_settings(ISSUER="https://issuer.example", AUDIENCE="https://api.example")

    access_token = issue_token()

    _, payload = unverified(access_token)
    assert payload["iss"] == "https://issuer.example"
    assert payload["aud"] == "https://api.example"
    assert decode_at(access_token).user_id == "42"


def test_round_trip_returns_the_claims() -> None:
    claims = decode_at(issue_token(user_id="7"))

    assert claims.user_id == "7"
    assert claims.family_public_id == SID
    assert claims.password_version == "0123456789"
    assert claims.issued_at == int(NOW.timestamp())
    assert claims.expires_at == int((NOW + LIFETIME).timestamp())
    assert claims.jti


def test_hand_forged_token_with_the_right_key_is_accepted() -> None:
    # The control for every refusal below: the forging helper itself makes valid tokens.
    assert decode_at(forge_token()).user_id == "42"


# --- refusals: algorithm, type, key id ----------------------------------------------------


def test_alg_none_is_refused() -> None:
    unsigned = forge_token(token_header(alg="none"))
    assert unsigned.endswith(".")
    assert_refused(unsigned)
    assert_refused(
        forge_token(token_header(alg="none"), key=b"") + "c2ln"
    )  # with a signature part anyway


def test_hs512_token_is_refused_when_hs256_is_configured() -> None:
    # Same secret, same kid: only the algorithm differs.
    assert_refused(forge_token(token_header(alg="HS512")))


def test_hs256_token_signed_with_the_public_key_is_refused_under_rs256(
    tokenauth_settings: Any,
) -> None:
    private_key = KEY_FACTORIES["RS256"]()
    tokenauth_settings(ALGORITHM="RS256", SIGNING_KEY=private_pem(private_key))
    public = public_pem(private_key)
    kid = keys.get_key_set().signing.kid

    for secret in (public, public.encode(), public.strip()):
        assert_refused(
            forge_token(token_header(alg="HS256", kid=kid), key=secret, algorithm="HS256")
        )


def test_public_key_as_hmac_secret_is_refused_for_a_verifying_key_too(
    tokenauth_settings: Any,
) -> None:
    old_key = KEY_FACTORIES["RS256"]()
    tokenauth_settings(
        VERIFYING_KEYS=[{"kid": "old-rsa", "key": public_pem(old_key), "algorithm": "RS256"}]
    )

    assert_refused(
        forge_token(
            token_header(alg="HS256", kid="old-rsa"), key=public_pem(old_key), algorithm="HS256"
        )
    )


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT+x", "application/jwt", "", "JOSE", 1])
def test_wrong_typ_is_refused(typ: Any) -> None:
    assert_refused(forge_token(token_header(typ=typ)))


def test_missing_typ_is_refused() -> None:
    header = token_header()
    del header["typ"]

    assert_refused(forge_token(header))


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/AT+JWT"])
def test_rfc9068_typ_spellings_are_accepted(typ: str) -> None:
    assert decode_at(forge_token(token_header(typ=typ))).user_id == "42"


def test_missing_kid_is_refused() -> None:
    header = token_header()
    del header["kid"]

    assert_refused(forge_token(header))


@pytest.mark.parametrize("kid", ["unknown", "", 0, ["x"], {"kid": "x"}, None])
def test_unknown_or_malformed_kid_is_refused(kid: Any) -> None:
    header = token_header()
    header["kid"] = kid

    assert_refused(forge_token(header))


# --- refusals: claims ---------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "sid", "pwv"])
def test_token_without_a_required_claim_is_refused(claim: str) -> None:
    assert_refused(forge_token(payload=token_claims(**{claim: None})))


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
    assert_refused(forge_token(payload=token_claims(**{claim: value})))


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
    assert decode_at(forge_token(payload=token_claims(**good))).user_id == "42"

    assert_refused(forge_token(payload=token_claims(**{**good, **overrides})))


def test_token_for_some_audience_is_refused_when_none_is_configured() -> None:
    assert_refused(forge_token(payload=token_claims(aud="https://other.example")))


def test_expired_token_is_refused() -> None:
    access_token = issue_token()
    expires_at = NOW + LIFETIME

    assert decode_at(access_token, expires_at - timedelta(seconds=1)).user_id == "42"
    assert_refused(access_token, expires_at)
    assert_refused(access_token, expires_at + timedelta(days=1))


def test_leeway_is_honoured(tokenauth_settings: Any) -> None:
    access_token = issue_token()
    expires_at = NOW + LIFETIME
    assert_refused(access_token, expires_at + timedelta(seconds=10))

    tokenauth_settings(LEEWAY=timedelta(seconds=30))

    assert decode_at(access_token, expires_at + timedelta(seconds=10)).user_id == "42"
    assert decode_at(access_token, expires_at + timedelta(seconds=29)).user_id == "42"
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
    big = forge_token(payload=token_claims(padding="x" * 64 * 1024))
    assert len(big) > 64 * 1024
    assert_refused(big)
    assert_refused("a" * 32 * 1024 + "." + "b" * 32 * 1024 + ".c")


@pytest.mark.parametrize("depth", [1000, 5000, 50_000])
def test_deeply_nested_header_is_refused(depth: int) -> None:
    header = token_header()
    header_json = json.dumps(header)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    body = b64url(json.dumps(token_claims()).encode())
    assert_refused(f"{b64url(header_json.encode())}.{body}.{b64url(b'signature')}")


@pytest.mark.parametrize("depth", [5000, 50_000])
def test_deeply_nested_payload_is_refused(depth: int) -> None:
    payload = json.dumps(token_claims())[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    assert_refused(forge_token(payload=payload.encode()))


def test_nested_payload_within_the_size_limit_raises_only_invalid_access_token() -> None:
    # Deep enough to hit the JSON parser's recursion limit, short enough to reach it.
    payload = json.dumps(token_claims())[:-1] + ', "x": ' + "[" * 1000 + "]" * 1000 + "}"
    access_token = forge_token(payload=payload.encode())
    assert len(access_token) < 4096

    with contextlib.suppress(InvalidAccessToken):  # anything else escaping fails the test
        decode_at(access_token)


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
    assert_refused(forge_token(payload=payload))


@pytest.mark.parametrize("header_json", [b"[]", b"null", b"\xff\xfe", b"{", b'"at+jwt"'])
def test_header_that_is_not_a_json_object_is_refused(header_json: bytes) -> None:
    body = b64url(json.dumps(token_claims()).encode())
    assert_refused(f"{b64url(header_json)}.{body}.{b64url(b'signature')}")


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.from_regex(r"\A[A-Za-z0-9_-]{1,80}\.[A-Za-z0-9_-]{1,80}\.[A-Za-z0-9_-]{1,80}\Z"),
        st.builds(
            lambda header, payload, signature: (
                f"{b64url(header)}.{b64url(payload)}.{b64url(signature)}"
            ),
            st.binary(min_size=1, max_size=120),
            st.binary(min_size=1, max_size=120),
            st.binary(min_size=1, max_size=80),
        ),
    )
)
def test_any_random_string_is_refused_with_invalid_access_token(candidate: str) -> None:
    with pytest.raises(InvalidAccessToken):
        decode_access_token(candidate)


# --- what verification keeps between tokens follows settings and keys at once -------------


def test_a_new_key_under_the_same_kid_refuses_old_tokens_at_once() -> None:
    base = {"SIGNING_KEY_ID": "k1"}
    with override_settings(
        TOKENAUTH={**base, "SIGNING_KEY": "first-signing-key-0123456789-abcdef"}
    ):
        old = issue_token()
        assert decode_at(old).user_id == "42"  # the verifier for kid k1 is now prepared
    with override_settings(
        TOKENAUTH={**base, "SIGNING_KEY": "second-signing-key-0123456789-abcde"}
    ):
        new = issue_token()
        assert jwt.get_unverified_header(new)["kid"] == jwt.get_unverified_header(old)["kid"]
        assert decode_at(new).user_id == "42"
        assert_refused(old)
    with override_settings(
        TOKENAUTH={**base, "SIGNING_KEY": "first-signing-key-0123456789-abcdef"}
    ):
        assert decode_at(old).user_id == "42"
        assert_refused(new)


def test_issuer_and_audience_settings_apply_to_the_next_token(tokenauth_settings: Any) -> None:
    plain = issue_token()
    assert decode_at(plain).user_id == "42"

    tokenauth_settings(ISSUER="https://issuer.example")
    assert_refused(plain)
    with_issuer = issue_token()
    assert decode_at(with_issuer).user_id == "42"

    tokenauth_settings(AUDIENCE=["https://a.example", "https://b.example"])
    assert_refused(with_issuer)
    assert decode_at(issue_token()).user_id == "42"
    assert decode_at(
        forge_token(payload=token_claims(iss="https://issuer.example", aud="https://b.example"))
    )
    assert_refused(
        forge_token(payload=token_claims(iss="https://issuer.example", aud="https://c.example"))
    )


def test_dropping_a_verifying_key_refuses_its_tokens_at_once(tokenauth_settings: Any) -> None:
    old_secret = "the-previous-signing-key-0123456789-abc"
    tokenauth_settings(SIGNING_KEY=old_secret, SIGNING_KEY_ID="old")
    old = issue_token()
    tokenauth_settings(
        SIGNING_KEY="the-current-signing-key-0123456789-abcd",
        SIGNING_KEY_ID="new",
        VERIFYING_KEYS=[{"kid": "old", "algorithm": "HS256", "key": old_secret}],
    )
    assert decode_at(old).user_id == "42"

    tokenauth_settings(VERIFYING_KEYS=[])

    assert_refused(old)


# --- refusals: a valid signature in a spelling or header we do not issue ------------------


def test_signature_in_a_non_canonical_base64url_spelling_is_refused() -> None:
    access_token = issue_token()
    signing_input, _, signature = access_token.rpartition(".")
    assert len(signature) % 4 == 3  # HS256: 32 bytes, so the last character has 2 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(signature[-1]) ^ 1]  # same bytes, another string
    same_bytes = f"{signing_input}.{signature[:-1]}{twin}"
    assert base64.urlsafe_b64decode(
        same_bytes.rpartition(".")[2] + "="
    ) == base64.urlsafe_b64decode(signature + "=")

    assert decode_at(access_token).user_id == "42"
    assert_refused(same_bytes)


@pytest.mark.parametrize(
    "extra",
    [{"crit": ["exp"]}, {"crit": ["b64"], "b64": False}, {"b64": False}, {"crit": []}],
    ids=["crit", "crit-b64", "b64-false", "crit-empty"],
)
def test_header_with_critical_or_unencoded_payload_members_is_refused(
    extra: dict[str, Any],
) -> None:
    assert_refused(forge_token(token_header(**extra)))


def test_signature_segment_of_an_impossible_length_is_refused() -> None:
    access_token = issue_token()
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
    claims: dict[str, Any] = token_claims()
    claims.update(iss=issuer, aud=audience if isinstance(audience, str) else list(audience or []))
    claims[claim] = data.draw(_HOSTILE[claim], label=claim)
    setting = {"ISSUER": issuer, "AUDIENCE": audience, "LEEWAY": timedelta(seconds=leeway)}
    with override_settings(TOKENAUTH=setting), time_machine.travel(NOW, tick=False):
        access_token = forge_token(payload=json.dumps(claims, allow_nan=True).encode())
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
    soon = forge_token(payload=token_claims(**{claim: _NOW_S + 20}))
    assert_refused(soon)

    tokenauth_settings(LEEWAY=timedelta(seconds=30))

    assert decode_at(soon).user_id == "42"
    assert_refused(forge_token(payload=token_claims(**{claim: _NOW_S + 31})))
