"""``tokenauth.dpop.check_proof``: each check of DESIGN §8 / RFC 9449 §4.3 as its own test, with
proofs signed by real keys (PyJWT and, independently, joserfc)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.cache import caches
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import UNREACHABLE_REDIS, requires_redis
from tests.dpop_proofs import MISSING, NOW, URL, Signer, b64, new_key, raw_jws
from tokenauth import dpop
from tokenauth._exceptions import TemporarilyUnavailable
from tokenauth.dpop import DPoPProof, DPoPProofError, check_proof

ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
ALL_ALGORITHMS = ["ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]


def check(proof: str, **overrides: Any) -> DPoPProof:
    arguments: dict[str, Any] = {
        "method": "POST",
        "url": URL,
        "access_token": None,
        "expected_jkt": None,
        "require_nonce": False,
        "now": NOW,
        **overrides,
    }
    return check_proof(proof, **arguments)


def refused(proof: str, **overrides: Any) -> DPoPProofError:
    with pytest.raises(DPoPProofError) as raised:
        check(proof, **overrides)
    assert raised.value.error == "invalid_dpop_proof"
    assert raised.value.description == str(raised.value)
    return raised.value


_NO_JWS = "The DPoP proof is no compact JWS."
_BAD_SIGNATURE = "The DPoP proof's signature does not verify with its jwk."
_ALG_NOT_ALLOWED = "The DPoP proof's alg must be one of ES256 EdDSA RS256 PS256."
_NONCE_REQUIRED = "Authorization server requires nonce in DPoP proof."


@pytest.fixture
def all_algorithms(tokenauth_settings: Any) -> None:
    tokenauth_settings(DPOP_ALGORITHMS=ALL_ALGORITHMS)


# --- a valid proof ------------------------------------------------------------------------


def test_a_valid_proof_gives_its_keys_rfc_7638_thumbprint(signer: Signer) -> None:
    proof = signer.proof()

    checked = check(proof)

    assert checked.jkt == signer.jkt  # as jwcrypto computes it
    assert checked.jti == json.loads(jwt.api_jws.base64url_decode(proof.split(".")[1]))["jti"]
    assert checked.issued_at == NOW.timestamp()


def test_the_thumbprint_is_rfc_7638s_own_example() -> None:
    # RFC 7638 §3.1: the RSA key whose thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )

    assert dpop.thumbprint({"kty": "RSA", "n": n, "e": "AQAB"}) == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


@pytest.mark.parametrize("alg", ALL_ALGORITHMS)
def test_each_asymmetric_algorithm_with_a_key_that_fits_it(alg: str, all_algorithms: None) -> None:
    signer = Signer(alg)

    assert check(signer.proof()).jkt == signer.jkt


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_the_default_algorithms_are_accepted(alg: str) -> None:
    assert check(Signer(alg).proof()).jkt


def test_a_proof_built_by_joserfc_is_accepted() -> None:
    """Not only ourselves against ourselves: joserfc writes the jwk header and signs."""
    from joserfc import jws
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"jti": "joserfc-1", "htm": "GET", "htu": URL, "iat": int(NOW.timestamp())}
    proof = jws.serialize_compact(header, json.dumps(claims), key)

    checked = check(proof, method="GET")

    assert checked.jkt == key.thumbprint()


def test_application_dpop_jwt_is_the_same_type(signer: Signer) -> None:
    # RFC 7515 §4.1.9: "dpop+jwt" stands for "application/dpop+jwt"; media types ignore case.
    assert check(signer.proof(headers={"typ": "application/DPoP+JWT"})).jkt == signer.jkt


# --- the header: exactly one, a compact JWS, not too long ---------------------------------


@pytest.mark.parametrize(
    "proof",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d.e",  # a JWE
        "é.é.é",
        "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.",  # no signature (alg none's shape)
        "eyJ0eXAiOiJkcG9wK2p3dCJ9=.e30.AA",  # padding: not RFC 7515's base64url
        "\x00\x01\x02",
        "Bearer abc.def.ghi jkl",
    ],
)
def test_garbage_is_refused_with_a_clear_error(proof: str) -> None:
    assert "JWS" in refused(proof).description


def test_two_dpop_headers_are_refused(signer: Signer) -> None:
    joined = f"{signer.proof()},{signer.proof()}"  # how WSGI and ASGI servers pass two

    assert "one DPoP header" in refused(joined).description


def test_a_100_kb_proof_is_refused_before_it_is_decoded(signer: Signer) -> None:
    huge = signer.proof(jti="x" * 100_000)

    assert "longer than" in refused(huge).description


def test_a_non_ascii_proof_is_refused(signer: Signer) -> None:
    proof = signer.proof()

    assert "no compact JWS" in refused(proof[:10] + "ü" + proof[11:]).description


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
@pytest.mark.parametrize("signature", ["A", "AAAAA", "AA", ""])
def test_a_signature_of_any_length_is_refused_as_an_error(
    alg: str, signature: str, all_algorithms: None
) -> None:
    header, payload, _ = Signer(alg).proof().split(".")

    assert refused(f"{header}.{payload}.{signature}").description in (_NO_JWS, _BAD_SIGNATURE)


def test_a_proof_whose_header_is_no_json_object_is_refused(signer: Signer) -> None:
    _, payload, signature = signer.proof().split(".")

    for header in (b"[1, 2]", b"not json", b"\xff\xfe", b"null"):
        assert "of JSON objects" in refused(f"{b64(header)}.{payload}.{signature}").description


def test_a_non_canonical_base64url_segment_is_refused(signer: Signer) -> None:
    header, payload, signature = signer.proof().split(".")
    # The last character of a segment carries spare bits: flip one and it decodes the same.
    last = signature[-1]
    twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other = twin[twin.index(last) ^ 1]

    assert "no compact JWS" in refused(f"{header}.{payload}.{signature[:-1]}{other}").description


def test_a_signed_payload_with_spare_bits_set_is_refused(signer: Signer) -> None:
    header = signer.proof().split(".")[0]
    payload = next(  # a length whose last character carries spare bits
        encoded
        for length in range(1, 5)
        if len(encoded := b64(json.dumps(signer.claims(jti="j" * length)).encode())) % 4 in (2, 3)
    )
    twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twisted = payload[:-1] + twin[twin.index(payload[-1]) ^ 1]  # decodes to the same claims
    signature = jwt.get_algorithm_by_name("ES256").sign(f"{header}.{twisted}".encode(), signer.key)

    assert "no compact JWS" in refused(f"{header}.{twisted}.{b64(signature)}").description


def test_a_segment_of_4n_plus_1_characters_is_refused(signer: Signer) -> None:
    header, payload, signature = signer.proof().split(".")
    cut = signature[: len(signature) - (len(signature) % 4) - 3]  # 4n + 1 characters
    assert len(cut) % 4 == 1

    assert "no compact JWS" in refused(f"{header}.{payload}.{cut}").description


@hypothesis_settings(max_examples=300, deadline=None)
@given(proof=st.one_of(st.text(max_size=300), st.from_regex(r"[A-Za-z0-9_.,-]{0,200}")))
def test_any_header_value_gives_a_proof_error_and_nothing_else(proof: str) -> None:
    with pytest.raises(DPoPProofError):
        check(proof)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    header=st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(st.text(max_size=3), children, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=5,
    )
)
def test_any_json_header_gives_a_proof_error_and_nothing_else(header: dict[str, Any]) -> None:
    for base in ({}, {"typ": "dpop+jwt", "alg": "ES256"}):
        with pytest.raises(DPoPProofError):
            check(raw_jws({**base, **header}, {"jti": "x"}, b"sig"))


_VALID = Signer("ES256").proof()


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    segment=st.from_regex(r"[A-Za-z0-9_-]{0,120}", fullmatch=True),
    position=st.sampled_from([0, 1, 2]),
)
def test_any_segment_in_a_valid_proof_gives_a_proof_error_and_nothing_else(
    segment: str, position: int
) -> None:
    """Past the shape check: each segment decoded, parsed and verified, never an exception."""
    segments = _VALID.split(".")
    segments[position] = segment
    with pytest.raises(DPoPProofError):
        check(".".join(segments))


# --- typ and alg --------------------------------------------------------------------------


@pytest.mark.parametrize("typ", [MISSING, "JWT", "at+jwt", "dpop", 7, ["dpop+jwt"]])
def test_typ_must_be_dpop_jwt(signer: Signer, typ: Any) -> None:
    assert "typ" in refused(signer.proof(headers={"typ": typ})).description


def test_alg_none_is_refused(signer: Signer) -> None:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": signer.jwk}
    claims = signer.claims()

    for signature in (b"", b"anything"):
        assert refused(raw_jws(header, claims, signature)).description in (
            _NO_JWS,
            _ALG_NOT_ALLOWED,
        )


def test_hs256_with_the_public_key_as_the_secret_is_refused(signer: Signer) -> None:
    """Key confusion: an HMAC "signed" with what everyone can read."""
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": signer.jwk}
    unsigned = raw_jws(header, signer.claims()).rpartition(".")[0]
    for secret in (json.dumps(signer.jwk).encode(), signer.jwk["x"].encode()):
        mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()

        assert "alg" in refused(f"{unsigned}.{b64(mac)}").description


def test_an_algorithm_outside_dpop_algorithms_is_refused() -> None:
    es384 = Signer("ES384")  # a fine algorithm, but not in the default DPOP_ALGORITHMS

    assert "ES256 EdDSA RS256 PS256" in refused(es384.proof()).description


def test_dpop_algorithms_narrows_what_is_accepted(tokenauth_settings: Any) -> None:
    tokenauth_settings(DPOP_ALGORITHMS=["ES256"])

    refused(Signer("EdDSA").proof())
    assert check(Signer("ES256").proof()).jkt


def test_a_header_accepted_before_is_refused_once_its_alg_is_not(
    tokenauth_settings: Any,
) -> None:
    signer = Signer("EdDSA")  # the same header on every proof: its parse is kept
    assert check(signer.proof()).jkt == signer.jkt

    tokenauth_settings(DPOP_ALGORITHMS=["ES256"])

    refused(signer.proof())


def test_a_crit_header_is_refused(signer: Signer) -> None:
    assert (
        "header parameter we do not understand"
        in refused(signer.proof(headers={"crit": ["exp"], "exp": 1})).description
    )


# --- the jwk ------------------------------------------------------------------------------


def test_no_jwk_is_refused(signer: Signer) -> None:
    assert "jwk" in refused(signer.proof(headers={"jwk": MISSING})).description


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_a_jwk_with_its_private_key_is_refused(alg: str) -> None:
    signer = Signer(alg)
    from jwcrypto import jwk as jwcrypto_jwk

    private = json.loads(jwcrypto_jwk.JWK.from_pyca(signer.key).export_private())
    assert "d" in private

    assert "private" in refused(Signer(alg, key=signer.key, jwk=private).proof()).description


def test_an_oct_key_is_refused(signer: Signer) -> None:
    assert (
        "private key"
        in refused(signer.proof(headers={"jwk": {"kty": "oct", "k": "c2VjcmV0"}})).description
    )


@pytest.mark.parametrize(
    ("alg", "key_of"),
    [
        ("ES256", "ES384"),  # another curve
        ("ES384", "ES256"),
        ("ES256", "secp256k1"),  # 256 bits, but not P-256
        ("ES256", "RS256"),  # another key type
        ("RS256", "ES256"),
        ("EdDSA", "Ed448"),  # DESIGN §8: OKP Ed25519 only
        ("EdDSA", "ES256"),
    ],
)
def test_a_jwk_that_does_not_fit_the_alg_is_refused(
    alg: str, key_of: str, all_algorithms: None
) -> None:
    signer = Signer(alg)
    jwk = Signer(key_of).jwk if key_of != "secp256k1" else _secp256k1_jwk()

    assert "jwk" in refused(signer.proof(headers={"jwk": jwk})).description


def _secp256k1_jwk() -> dict[str, Any]:
    return jwt.algorithms.ECAlgorithm.to_jwk(new_key("secp256k1").public_key(), as_dict=True)


def test_a_mismatched_crv_label_is_refused(signer: Signer) -> None:
    assert (
        "needs a P-256 key"
        in refused(signer.proof(headers={"jwk": {**signer.jwk, "crv": "P-384"}})).description
    )


def test_rsa_1024_is_refused_even_when_it_signs_correctly() -> None:
    signer = Signer("RS256", key=new_key("RS256", rsa_bits=1024))

    assert "2048" in refused(signer.proof()).description


def test_an_rsa_key_with_a_huge_exponent_is_refused() -> None:
    """Every verify with a 2001-bit exponent costs 40 times one with 65537: a DoS lever."""
    signer = Signer("RS256")
    n = signer.key.public_key().public_numbers().n
    e = (1 << 2000) + 1  # odd, and less than n: cryptography builds the key

    huge = {**signer.jwk, "e": b64(e.to_bytes((e.bit_length() + 7) // 8, "big"))}

    assert "exponent" in refused(signer.proof(headers={"jwk": huge})).description
    assert e < n


def test_rsa_2048_is_accepted() -> None:
    assert check(Signer("RS256", key=new_key("RS256", rsa_bits=2048)).proof()).jkt


def test_a_jwk_for_another_alg_is_refused(signer: Signer) -> None:
    assert (
        "for another algorithm"
        in refused(signer.proof(headers={"jwk": {**signer.jwk, "alg": "ES384"}})).description
    )


def test_a_point_off_the_curve_is_refused(signer: Signer) -> None:
    y = bytearray(jwt.api_jws.base64url_decode(signer.jwk["y"]))
    y[-1] ^= 1

    assert (
        "no valid public key"
        in refused(signer.proof(headers={"jwk": {**signer.jwk, "y": b64(bytes(y))}})).description
    )


def test_short_or_non_canonical_coordinates_are_refused(signer: Signer) -> None:
    x = jwt.api_jws.base64url_decode(signer.jwk["x"])

    for bad in (b64(x[1:]), b64(b"\0" + x), signer.jwk["x"] + "=", 7, ""):
        description = refused(signer.proof(headers={"jwk": {**signer.jwk, "x": bad}})).description
        assert description == "The DPoP proof's jwk is refused: the jwk's 'x' is malformed.", bad


def test_an_rsa_modulus_with_a_leading_zero_is_refused() -> None:
    signer = Signer("RS256")
    n = jwt.api_jws.base64url_decode(signer.jwk["n"])

    description = refused(
        signer.proof(headers={"jwk": {**signer.jwk, "n": b64(b"\0" + n)}})
    ).description
    assert description == "The DPoP proof's jwk is refused: the jwk's 'n' is malformed."


# --- the signature ------------------------------------------------------------------------


def test_another_keys_signature_is_refused(signer: Signer) -> None:
    thief = Signer("ES256")

    proof = Signer("ES256", key=thief.key, jwk=signer.jwk).proof()  # claims signer's key

    assert "signature" in refused(proof).description


def test_a_changed_claim_breaks_the_signature(signer: Signer) -> None:
    header, _, signature = signer.proof(htm="POST").split(".")
    payload = b64(json.dumps(signer.claims(htm="GET")).encode())

    assert refused(f"{header}.{payload}.{signature}", method="GET").description == _BAD_SIGNATURE


def test_a_der_signature_is_no_jws_signature(signer: Signer) -> None:
    """RFC 7518 §3.4: ES256 signs R || S, not the DER that OpenSSL writes."""
    unsigned = signer.proof().rpartition(".")[0]
    der = signer.key.sign(unsigned.encode(), ec.ECDSA(hashes.SHA256()))

    assert refused(f"{unsigned}.{b64(der)}").description == _BAD_SIGNATURE


# --- jti, htm, htu ------------------------------------------------------------------------


@pytest.mark.parametrize("jti", [MISSING, "", "x" * 257, 12, None, ["a"]])
def test_jti_must_be_a_string_of_1_to_256_characters(signer: Signer, jti: Any) -> None:
    assert "jti" in refused(signer.proof(jti=jti)).description


def test_a_jti_of_256_characters_is_accepted(signer: Signer) -> None:
    assert check(signer.proof(jti="é" * 256)).jti == "é" * 256


@pytest.mark.parametrize("htm", [MISSING, "GET", "post", "POST ", None])
def test_htm_must_be_the_request_method(signer: Signer, htm: Any) -> None:
    assert "htm" in refused(signer.proof(htm=htm)).description


@pytest.mark.parametrize(
    "htu",
    [
        MISSING,
        None,
        "https://api.example/auth/refresh/",  # another path
        "https://api.example/auth/token",  # no trailing slash: another path
        "https://API.example/Auth/token/",  # the path's case counts
        "https://evil.example/auth/token/",  # another host
        "http://api.example/auth/token/",  # another scheme
        "https://api.example:8443/auth/token/",  # another port
        "https://api.example:80/auth/token/",  # http's default port, not https's
        "https://user@api.example/auth/token/",
        "https://api.example/auth/%74oken%2F",  # "%2F" is no "/"
        "/auth/token/",  # relative
        "api.example/auth/token/",
        "https://api.example:99999/auth/token/",
    ],
)
def test_htu_must_be_the_request_uri(signer: Signer, htu: Any) -> None:
    assert "htu" in refused(signer.proof(htu=htu)).description


@pytest.mark.parametrize(
    "htu",
    [
        "HTTPS://API.EXAMPLE/auth/token/",  # scheme and host case
        "https://api.example:443/auth/token/",  # the default port
        "https://api.example:/auth/token/",  # an empty port
        "https://api.example/auth/%74oken/",  # an unreserved character encoded
        "https://api.example/auth/./x/../token/",  # dot segments
    ],
)
def test_htu_is_compared_after_rfc_3986_normalisation(signer: Signer, htu: str) -> None:
    assert check(signer.proof(htu=htu)).jkt == signer.jkt


def test_htu_and_the_request_uri_are_compared_without_query_and_fragment(signer: Signer) -> None:
    # RFC 9449 §4.3 check 9: "ignoring any query and fragment parts", on either side.
    assert check(signer.proof(htu=URL + "?grant_type=password#x"), url=URL + "?a=1").jkt
    assert check(signer.proof(htu=URL), url=URL + "?a=1").jkt
    refused(signer.proof(htu="https://api.example/auth/?/token/"))  # a query hides no path


def test_percent_encoding_and_non_ascii_paths_compare_as_uris(signer: Signer) -> None:
    url = "https://api.example/caf%C3%A9/a%20b/"  # what build_absolute_uri() gives

    assert check(signer.proof(htu="https://api.example/café/a b/"), url=url).jkt
    assert check(signer.proof(htu="https://api.example/caf%c3%a9/a%20b/"), url=url).jkt


def test_an_ipv6_host_and_port(signer: Signer) -> None:
    url = "http://[::1]:8000/auth/token/"

    assert check(signer.proof(htu="http://[::1]:8000/auth/token/"), url=url).jkt
    refused(signer.proof(htu="http://[::2]:8000/auth/token/"), url=url)


# --- iat ----------------------------------------------------------------------------------


@pytest.mark.parametrize("iat", [MISSING, "1893456000", True, None, 1e400, 10**400, [1]])
def test_iat_must_be_a_number(signer: Signer, iat: Any) -> None:
    assert "iat" in refused(signer.proof(iat=iat)).description


def test_iat_up_to_dpop_proof_max_age_ago_is_accepted(signer: Signer) -> None:
    assert check(signer.proof(), now=NOW + timedelta(seconds=60)).jkt


def test_iat_older_than_dpop_proof_max_age_is_refused(signer: Signer) -> None:
    assert "too old" in refused(signer.proof(), now=NOW + timedelta(seconds=61)).description


def test_iat_far_in_the_past_is_refused(signer: Signer) -> None:
    assert refused(signer.proof(iat=0)).description == "The DPoP proof is too old."


def test_dpop_proof_max_age_and_leeway_widen_the_window(
    signer: Signer, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP_PROOF_MAX_AGE=timedelta(seconds=120), LEEWAY=timedelta(seconds=5))

    assert check(signer.proof(), now=NOW + timedelta(seconds=125)).jkt
    refused(signer.proof(), now=NOW + timedelta(seconds=126))


def test_iat_in_the_future_is_refused(signer: Signer) -> None:
    assert "future" in refused(signer.proof(), now=NOW - timedelta(seconds=2)).description
    refused(signer.proof(iat=int(NOW.timestamp()) + 3600))


def test_iat_within_its_one_second_resolution_is_not_the_future(signer: Signer) -> None:
    # A client clock a fraction ahead writes the next second.
    assert check(signer.proof(), now=NOW - timedelta(seconds=0.4)).jkt
    refused(signer.proof(), now=NOW - timedelta(seconds=1))


def test_leeway_allows_a_client_clock_that_is_ahead(
    signer: Signer, tokenauth_settings: Any
) -> None:
    tokenauth_settings(LEEWAY=timedelta(seconds=30))

    assert check(signer.proof(), now=NOW - timedelta(seconds=30)).jkt
    refused(signer.proof(), now=NOW - timedelta(seconds=32))


# --- ath and the bound key ----------------------------------------------------------------


def test_ath_matches_the_access_token(signer: Signer) -> None:
    proof = signer.proof(access_token=ACCESS_TOKEN)

    assert check(proof, access_token=ACCESS_TOKEN).jkt == signer.jkt


@pytest.mark.parametrize(
    "ath",
    [
        MISSING,
        None,
        b64(hashlib.sha256(b"another token").digest()),
        b64(hashlib.sha256(ACCESS_TOKEN.encode()).digest()) + "A",
        hashlib.sha256(ACCESS_TOKEN.encode()).hexdigest(),  # hex, not base64url
        "é",
    ],
)
def test_a_missing_or_wrong_ath_is_refused(signer: Signer, ath: Any) -> None:
    proof = signer.proof(ath=ath)

    assert "ath" in refused(proof, access_token=ACCESS_TOKEN).description


def test_ath_is_the_rfc_9449_example() -> None:
    # RFC 9449 §7.1, Figure 12's access token and the ath of Figure 13.
    assert dpop.access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


def test_the_key_must_be_the_one_the_token_is_bound_to(signer: Signer) -> None:
    thief = Signer("ES256")

    assert check(signer.proof(), expected_jkt=signer.jkt).jkt == signer.jkt
    assert "another key" in refused(thief.proof(), expected_jkt=signer.jkt).description


# --- nonces -------------------------------------------------------------------------------


def use_dpop_nonce(proof: str, **overrides: Any) -> DPoPProofError:
    with pytest.raises(DPoPProofError) as raised:
        check(proof, require_nonce=True, **overrides)
    assert raised.value.error == "use_dpop_nonce"
    assert raised.value.nonce == dpop.current_nonce(overrides.get("now", NOW))
    return raised.value


def test_a_proof_without_the_nonce_gets_use_dpop_nonce_and_the_nonce(signer: Signer) -> None:
    error = use_dpop_nonce(signer.proof())

    assert check(signer.proof(nonce=error.nonce), require_nonce=True).jkt == signer.jkt


@pytest.mark.parametrize("nonce", [None, "", "made-up", 12, "é"])
def test_a_wrong_nonce_gets_use_dpop_nonce(signer: Signer, nonce: Any) -> None:
    error = use_dpop_nonce(signer.proof(nonce=nonce))

    assert error.description == _NONCE_REQUIRED


def test_the_previous_steps_nonce_is_accepted_and_the_one_before_is_not(signer: Signer) -> None:
    nonce = dpop.current_nonce(NOW)
    step = timedelta(seconds=300)

    assert check(
        signer.proof(nonce=nonce, iat=int((NOW + step).timestamp())),
        require_nonce=True,
        now=NOW + step,
    ).jkt
    later = NOW + 2 * step
    use_dpop_nonce(signer.proof(nonce=nonce, iat=int(later.timestamp())), now=later)


def test_a_nonce_under_another_secret_key_is_refused(signer: Signer, settings: Any) -> None:
    settings.SECRET_KEY = "another-deployment-" + "s" * 50
    foreign = dpop.current_nonce(NOW)
    settings.SECRET_KEY = "tests-only-secret-key-that-is-long-enough-for-hmac-0123456789"

    assert foreign != dpop.current_nonce(NOW)
    assert use_dpop_nonce(signer.proof(nonce=foreign)).description == _NONCE_REQUIRED


def test_a_nonce_under_a_secret_key_fallback_is_accepted(signer: Signer, settings: Any) -> None:
    old_nonce = dpop.current_nonce(NOW)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-rotated-secret-key-" + "r" * 50

    assert dpop.current_nonce(NOW) != old_nonce
    assert check(signer.proof(nonce=old_nonce), require_nonce=True).jkt


def test_nonces_are_stateless_and_the_same_in_every_process() -> None:
    # A MAC of the time step: nothing stored, so a process that never made it accepts it.
    assert dpop.current_nonce(NOW) == dpop.current_nonce(NOW + timedelta(seconds=1))
    assert dpop.current_nonce(NOW) != dpop.current_nonce(NOW + timedelta(seconds=300))


def test_without_require_nonce_any_nonce_claim_is_accepted(signer: Signer) -> None:
    # Resources take the nonce that clients such as oauth4webapi send along (DESIGN §8).
    assert check(signer.proof(nonce="whatever-the-client-holds")).jkt


def test_the_nonce_is_checked_after_the_signature(signer: Signer) -> None:
    thief = Signer("ES256", jwk=signer.jwk)  # signs with its own key, claims signer's

    error = refused(thief.proof(), require_nonce=True)  # invalid_dpop_proof, no nonce for free

    assert error.description == _BAD_SIGNATURE
    assert error.nonce == ""


# --- the jti replay cache -----------------------------------------------------------------


def test_a_replayed_proof_is_refused(signer: Signer) -> None:
    proof = signer.proof()
    check(proof)

    assert "used before" in refused(proof).description


def test_the_same_jti_from_another_key_is_no_replay(signer: Signer) -> None:
    check(signer.proof(jti="same"))

    assert check(Signer("ES256").proof(jti="same")).jti == "same"


def test_a_refused_proof_does_not_spend_its_jti(signer: Signer) -> None:
    refused(signer.proof(jti="kept", htm="GET"))

    assert check(signer.proof(jti="kept")).jti == "kept"


def test_a_nonce_retry_does_not_spend_the_jti(signer: Signer) -> None:
    error = use_dpop_nonce(signer.proof(jti="retry"))

    assert check(signer.proof(jti="retry", nonce=error.nonce), require_nonce=True).jti == "retry"


def _clear_redis() -> None:
    from django.conf import settings

    client = caches["redis"]._cache.get_client(write=True)
    for name in client.scan_iter(match=f"{settings.CACHES['redis']['KEY_PREFIX']}:*"):
        client.delete(name)


@pytest.fixture
def redis_cache(tokenauth_settings: Any) -> Any:
    tokenauth_settings(CACHE_ALIAS="redis")
    _clear_redis()
    yield caches["redis"]
    _clear_redis()


@requires_redis
def test_redis_a_replayed_proof_is_refused_by_another_cache_client(
    signer: Signer, redis_cache: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    proof = signer.proof()
    check(proof)

    # Another thread has its own RedisCache and connection pool: only Redis is shared.
    with ThreadPoolExecutor(1) as pool:
        other_client = pool.submit(lambda: caches["redis"]).result()
        assert other_client is not redis_cache
        with pytest.raises(DPoPProofError, match="used before"):
            pool.submit(check, proof).result()


@requires_redis
def test_redis_the_jti_is_kept_as_long_as_the_proof_is_acceptable(
    signer: Signer, redis_cache: Any, tokenauth_settings: Any, settings: Any
) -> None:
    tokenauth_settings(CACHE_ALIAS="redis", LEEWAY=timedelta(seconds=5))

    check(signer.proof(), now=NOW + timedelta(seconds=20))

    client = redis_cache._cache.get_client()
    prefix = settings.CACHES["redis"]["KEY_PREFIX"]  # this process's, not another run's
    (name,) = list(client.scan_iter(match=f"{prefix}:*tokenauth:dpop:jti:*"))
    # iat + 60 s + 5 s is 45 s away; a second more for the rounding, never much more.
    assert 45 <= client.ttl(name) <= 47
    # Written under Django's key scheme (KEY_PREFIX, version): the cache API reads it too.
    assert redis_cache.get(name.decode().split(":", 2)[2]) == 1


@requires_redis
def test_redis_two_racing_checks_of_one_proof_accept_one(signer: Signer, redis_cache: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    proof = signer.proof()

    def attempt(_: int) -> str:
        try:
            check(proof)
        except DPoPProofError:
            return "refused"
        return "accepted"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(attempt, range(8)))

    assert outcomes == ["accepted"] + ["refused"] * 7


def test_an_unreachable_cache_with_cache_failure_closed_is_temporarily_unavailable(
    signer: Signer, settings: Any, tokenauth_settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "down": UNREACHABLE_REDIS}
    tokenauth_settings(CACHE_ALIAS="down", CACHE_FAILURE="closed")

    with pytest.raises(dpop.ReplayCacheUnavailable) as raised:
        check(signer.proof())
    assert isinstance(raised.value, TemporarilyUnavailable)  # 503 at token endpoints


def test_an_unreachable_cache_with_cache_failure_open_skips_the_replay_check(
    signer: Signer, settings: Any, tokenauth_settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "down": UNREACHABLE_REDIS}
    tokenauth_settings(CACHE_ALIAS="down", CACHE_FAILURE="open")
    proof = signer.proof()

    assert check(proof).jkt == check(proof).jkt == signer.jkt


def test_the_cache_outage_never_hides_an_invalid_proof(
    signer: Signer, settings: Any, tokenauth_settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "down": UNREACHABLE_REDIS}
    tokenauth_settings(CACHE_ALIAS="down", CACHE_FAILURE="closed")

    description = refused(signer.proof(htm="GET")).description  # a POST: no ReplayCacheUnavailable
    assert description == "The DPoP proof's htm is not this request's method."


def test_a_replay_is_logged_without_the_proof(signer: Signer, caplog: Any) -> None:
    proof = signer.proof(access_token=ACCESS_TOKEN)
    check(proof, access_token=ACCESS_TOKEN)
    with caplog.at_level("DEBUG", logger="tokenauth"):
        refused(proof, access_token=ACCESS_TOKEN)

    assert "replayed" in caplog.text
    assert proof not in caplog.text
    assert ACCESS_TOKEN not in caplog.text
    for segment in proof.split("."):
        assert segment not in caplog.text
