"""Adversarial client input never gets a 5xx (DESIGN §3): fixed cases, then Hypothesis."""

from __future__ import annotations

import base64
import json
import random
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FORM, TOKEN_URLS, post_json
from tests.factories import PASSWORD
from tokenauth import _refresh_tokens, service
from tokenauth.keys import get_key_set
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db

FORM_URLS = ["/auth/token/", "/auth/revoke/"]
FIELDS = ["username", "password", "refresh_token", "grant_type", "token", "token_type_hint"]
fuzz_settings = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def safe_client() -> Client:
    """A client that returns the 500 instead of raising, so the assertion says what happened."""
    return Client(raise_request_exception=False)


def assert_no_server_error(response: Any, *, token_endpoint: bool = True) -> None:
    exc_info = getattr(response, "exc_info", None)
    assert response.status_code < 500, (response.status_code, exc_info and exc_info[1])
    if token_endpoint and 400 <= response.status_code < 500:
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        body = response.json()
        assert isinstance(body, dict) and "error" in body, body


def every_field(value: Any) -> dict[str, Any]:
    return {field: value for field in FIELDS}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- fixed adversarial cases ------------------------------------------------------------

MALFORMED_JSON = [
    b"{",
    b"}",
    b'{"username": }',
    b'{"username": "a" "password": "b"}',
    b"{'username': 'a'}",
    b'{"username": "a",}',
    b'{"username": NaN, "password": Infinity}',
    b'{"username": -Infinity}',
    b"\xef\xbb\xbf{}",
    b'"unterminated',
    b"[1, 2",
    b"nul",
    b"\x00",
    b'{"username": "\\u12"}',
    b'{"username": "\\x41"}',
]


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize("raw", MALFORMED_JSON)
def test_malformed_json(safe_client: Client, url: str, raw: bytes) -> None:
    response = safe_client.post(url, raw, content_type="application/json")

    assert_no_server_error(response)
    assert response.status_code == 400


SURROGATES = ["\\ud800", "\\udfff", "a\\ud83d", "\\udc00\\ud800", "\\ud800\\u0000"]


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize("escaped", SURROGATES)
def test_lone_surrogates_in_every_field(safe_client: Client, url: str, escaped: str) -> None:
    # Written by hand: json.dumps would refuse nothing, but this is what a client sends.
    raw = "{" + ", ".join(f'"{field}": "{escaped}"' for field in FIELDS) + "}"

    response = safe_client.post(url, raw.encode("ascii"), content_type="application/json")

    assert_no_server_error(response)
    assert response.status_code == 400


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    "hostile",
    ["ab\ud800cd", "a\x00b"],  # a lone surrogate (json.dumps escapes it as \ud800), a NUL byte
    ids=["lone-surrogate", "nul-byte"],
)
def test_a_hostile_character_in_one_field(
    safe_client: Client, user: Any, url: str, field: str, hostile: str
) -> None:
    body = {
        "username": user.username,
        "password": PASSWORD,
        "grant_type": "password",
        "refresh_token": "x",
        "token": "x",
        field: hostile,
    }

    assert_no_server_error(post_json(safe_client, url, body))


@pytest.mark.parametrize("url", FORM_URLS)
@pytest.mark.parametrize("field", FIELDS)
def test_nul_bytes_and_bad_utf8_in_form_bodies(
    safe_client: Client, user: Any, url: str, field: str
) -> None:
    data = {
        "username": user.username,
        "password": PASSWORD,
        "grant_type": "password",
        "token": "x",
    }
    body = urlencode(data) + f"&{field}=a%00b%ED%A0%80%FF"

    assert_no_server_error(safe_client.post(url, body, content_type=FORM))


def test_nul_and_surrogates_in_a_refresh_token_shaped_value(
    safe_client: Client, user: Any, login: Any
) -> None:
    genuine = login(user)["refresh_token"]
    for bad in (genuine + "\x00", genuine[:-1] + "\x00", genuine.replace(".", "\x00", 1)):
        for url in ("/auth/refresh/", "/auth/logout/"):
            assert_no_server_error(post_json(safe_client, url, {"refresh_token": bad}))
        assert_no_server_error(post_json(safe_client, "/auth/revoke/", {"token": bad}))


HUGE_NUMBERS = [
    b'{"username": 1e400, "password": -1e400, "refresh_token": 1e999, "token": 1e309}',
    b'{"username": ' + b"9" * 4000 + b', "password": "x"}',
    b'{"refresh_token": ' + b"9" * 5000 + b', "token": 1, "grant_type": 2}',
    b'{"username": 0.' + b"0" * 8000 + b'1, "password": 1e-400}',
    b'{"grant_type": 123456789012345678901234567890, "token": -0}',
]


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize("raw", HUGE_NUMBERS)
def test_huge_numbers(safe_client: Client, url: str, raw: bytes) -> None:
    assert_no_server_error(safe_client.post(url, raw, content_type="application/json"))


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize("depth", [100, 1_000, 5_000, 8_000])
@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"a":', "}")])
def test_deeply_nested_json(
    safe_client: Client, url: str, depth: int, opener: str, closer: str
) -> None:
    nested = opener * depth + "1" + closer * depth
    raw = ('{"username": ' + nested + ', "refresh_token": "x", "token": "x"}').encode()

    response = safe_client.post(url, raw, content_type="application/json")

    assert_no_server_error(response)


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage_as_json(safe_client: Client, url: str, seed: int) -> None:
    garbage = random.Random(seed).randbytes(4096)

    response = safe_client.post(url, garbage, content_type="application/json")

    assert_no_server_error(response)
    assert response.status_code == 400


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=rot13",
        "application/json; charset=utf-16",
        "application/json; charset=hex",
        "application/json; charset=no-such-charset",
        "application/x-www-form-urlencoded; charset=rot13",
        "application/x-www-form-urlencoded; charset=utf-32",
        "application/json; boundary=x; charset",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "text/plain",
        "",
        "\x00",
        "application/json\x00",
    ],
)
def test_odd_content_types(safe_client: Client, url: str, content_type: str) -> None:
    body = b'{"username": "a", "password": "b", "grant_type": "password", "token": "t"}'

    # generic(): post() would re-encode the body into the declared charset itself.
    response = safe_client.generic("POST", url, body, content_type=content_type)

    assert_no_server_error(response)


@pytest.mark.parametrize("url", FORM_URLS)
def test_too_many_form_fields(safe_client: Client, url: str) -> None:
    # Django's DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000; this body is well under 16 KB.
    body = "grant_type=password&token=x&" + "&".join(f"f{i}=" for i in range(1100))

    response = safe_client.post(url, body, content_type=FORM)

    assert_no_server_error(response)
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("url", TOKEN_URLS)
@pytest.mark.parametrize("content_length", ["abc", "-1", "", " 12", "1e3", "99999999999999999999"])
def test_bogus_content_length(safe_client: Client, url: str, content_length: str) -> None:
    response = safe_client.post(
        url, b'{"token": "x"}', content_type="application/json", CONTENT_LENGTH=content_length
    )

    assert_no_server_error(response)


PROTECTED = [
    ("get", "/api/me/"),
    ("get", "/api/whoami/"),
    ("get", "/auth/sessions/"),
    ("post", "/auth/logout-all/"),
    ("delete", "/auth/sessions/abc/"),
]


@pytest.mark.parametrize("method,url", PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer " + "a" * 65536,
        "Bearer " + "a." * 32768 + "a",
        "Bearer " + ("x" * 20000 + ".") * 2 + "x" * 20000,
        "Bearer " + " x" * 32768,
        "x" * 65536,
        "Bearer\x00" + "a" * 65536,
        "Bearer \ud800" * 8192,
    ],
    ids=["long-token", "many-dots", "long-segments", "many-tokens", "no-scheme", "nul", "surr"],
)
def test_a_64kb_authorization_header(
    safe_client: Client, method: str, url: str, authorization: str
) -> None:
    response = getattr(safe_client, method)(url, HTTP_AUTHORIZATION=authorization)

    assert_no_server_error(response, token_endpoint=False)
    assert response.status_code == 401


def _nested_json(depth: int) -> bytes:
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [500, 1_200, 1_400])
def test_a_deeply_nested_unsigned_jwt_header(safe_client: Client, depth: int) -> None:
    # Anyone can send this: the header is parsed before any signature is checked.
    token = f"{b64url(_nested_json(depth))}.{b64url(b'{}')}.{b64url(b'sig')}"
    assert len(token) < 4096

    response = safe_client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_no_server_error(response, token_endpoint=False)
    assert response.status_code == 401
    revoke = safe_client.post("/auth/revoke/", urlencode({"token": token}), content_type=FORM)
    assert_no_server_error(revoke)


@pytest.mark.parametrize("depth", [500, 1_200, 1_400])
def test_a_deeply_nested_signed_jwt_payload(safe_client: Client, depth: int) -> None:
    key = get_key_set().signing
    token = jwt.api_jws.encode(
        _nested_json(depth),
        key.signing_key,
        algorithm=key.algorithm,
        headers={"typ": "at+jwt", "kid": key.kid},
    )
    assert len(token) < 4096

    response = safe_client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_no_server_error(response, token_endpoint=False)
    assert response.status_code == 401
    revoke = safe_client.post("/auth/revoke/", urlencode({"token": token}), content_type=FORM)
    assert_no_server_error(revoke)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "1", "sid": "\x00", "pwv": "x", "iat": 0, "exp": 4_000_000_000},
        {"sub": "\x00", "sid": "a" * 22, "pwv": "x", "iat": 0, "exp": 4_000_000_000},
        {"sub": "9" * 40, "sid": "a" * 22, "pwv": "x", "iat": 0, "exp": 4_000_000_000},
        {"sub": "abc", "sid": "a" * 22, "pwv": "x", "iat": 0, "exp": 4_000_000_000},
        {"sub": ["1"], "sid": {"a": 1}, "pwv": 1, "iat": "0", "exp": 4_000_000_000},
        {"sub": "1", "sid": "a" * 22, "pwv": "x", "iat": 10**30, "exp": 10**40},
        {"sub": "1", "sid": "a" * 22, "pwv": "x", "iat": 0.5, "exp": 4e9},
    ],
)
@pytest.mark.parametrize("mode", ["database", "cache", "none"])
def test_signed_access_tokens_with_hostile_claims(
    safe_client: Client, tokenauth_settings: Any, claims: dict[str, Any], mode: str
) -> None:
    # The key is the server's: this is what a bug elsewhere, or a leaked key, would let in.
    tokenauth_settings(ACCESS_TOKEN_REVOCATION=mode)
    key = get_key_set().signing
    token = jwt.api_jws.encode(
        json.dumps(claims).encode(),
        key.signing_key,
        algorithm=key.algorithm,
        headers={"typ": "at+jwt", "kid": key.kid},
    )

    for method, url in PROTECTED:
        response = getattr(safe_client, method)(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert_no_server_error(response, token_endpoint=False)
    revoke = safe_client.post("/auth/revoke/", urlencode({"token": token}), content_type=FORM)
    assert_no_server_error(revoke)


@pytest.mark.parametrize("public_id", ["%00", "a%00b", "%FF%FE", "%ED%A0%80", "x" * 300])
def test_hostile_session_ids(safe_client: Client, user: Any, login: Any, public_id: str) -> None:
    access_token = login(user)["access_token"]

    response = safe_client.delete(
        f"/auth/sessions/{public_id}/", HTTP_AUTHORIZATION=f"Bearer {access_token}"
    )

    assert_no_server_error(response, token_endpoint=False)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "forwarded_for",
    ["not-an-ip", "fe80::1%eth0", "1.2.3.4\x00", "999.1.1.1", "", "::ffff:1.2.3.4", "\xff\xfe"],
)
def test_hostile_client_addresses_behind_a_proxy(
    safe_client: Client, user: Any, settings: Any, forwarded_for: str
) -> None:
    # DESIGN §2: with NUM_PROXIES set the client IP comes from X-Forwarded-For; a value that is
    # not an address is stored as NULL, and nothing answers 500.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for, "HTTP_USER_AGENT": "ua\x00\xff"}
    login = post_json(
        safe_client, "/auth/login/", {"username": user.username, "password": PASSWORD}, **extra
    )
    assert_no_server_error(login)
    assert login.status_code == 200
    first = login.json()["refresh_token"]

    refreshed = post_json(safe_client, "/auth/refresh/", {"refresh_token": first}, **extra)
    assert_no_server_error(refreshed)
    assert refreshed.status_code == 200
    second = refreshed.json()["refresh_token"]
    replay = post_json(safe_client, "/auth/refresh/", {"refresh_token": first}, **extra)
    assert_no_server_error(replay)
    token = {"grant_type": "refresh_token", "refresh_token": second}
    assert_no_server_error(post_json(safe_client, "/auth/token/", token, **extra))
    assert_no_server_error(
        post_json(safe_client, "/auth/logout/", {"refresh_token": first}, **extra)
    )
    assert_no_server_error(post_json(safe_client, "/auth/revoke/", {"token": second}, **extra))


def test_hostile_user_agents(safe_client: Client, user: Any) -> None:
    # WSGI decodes headers as latin-1: any code point up to U+00FF can arrive, nothing above.
    for user_agent in ("\x00" * 300, "\xff\xfe" * 300, "Ã©" * 10_000, "a\r\nX-Injected: 1"):
        response = post_json(
            safe_client,
            "/auth/login/",
            {"username": user.username, "password": PASSWORD},
            HTTP_USER_AGENT=user_agent,
        )
        assert_no_server_error(response)
        assert response.status_code == 200
        refresh_token = response.json()["refresh_token"]
        refreshed = post_json(
            safe_client,
            "/auth/refresh/",
            {"refresh_token": refresh_token},
            HTTP_USER_AGENT=user_agent,
        )
        assert_no_server_error(refreshed)


# --- Hypothesis ---------------------------------------------------------------------------

URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

nasty_text = st.lists(
    st.one_of(
        st.characters(),
        st.sampled_from(["\ud800", "\udfff", "\x00", " ", "\t", ".", "Bearer", "bearer", "tkrt_"]),
    ),
    max_size=60,
).map("".join)

jwt_like = st.tuples(st.binary(max_size=200), st.binary(max_size=200), st.binary(max_size=64)).map(
    lambda parts: ".".join(b64url(part) for part in parts)
)

refresh_token_like = st.builds(
    lambda public_id, generation, mac: f"tkrt_{public_id}.{generation}.{mac}",
    st.text(alphabet=URL_SAFE, min_size=22, max_size=22),
    st.integers(min_value=0, max_value=10**12),
    st.text(alphabet=URL_SAFE, min_size=43, max_size=43),
)

authorization_headers = st.one_of(
    nasty_text,
    st.builds(
        lambda scheme, value: f"{scheme} {value}",
        st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Token"]),
        nasty_text,
    ),
    st.builds(lambda value: f"Bearer {value}", jwt_like),
    st.builds(lambda value: f"Bearer {value}", refresh_token_like),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    nasty_text,
    refresh_token_like,
    jwt_like,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), nasty_text), children, max_size=5),
    ),
    max_leaves=20,
)
json_bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "username": json_values,
            "password": json_values,
            "refresh_token": json_values,
            "token": json_values,
            "token_type_hint": json_values,
            "grant_type": st.one_of(st.sampled_from(["password", "refresh_token"]), json_values),
            "client_id": json_values,
        },
    ),
    json_values,
)


@fuzz_settings
@given(authorization=authorization_headers)
def test_any_authorization_header_is_below_500(safe_client: Client, authorization: str) -> None:
    for method, url in PROTECTED:
        response = getattr(safe_client, method)(url, HTTP_AUTHORIZATION=authorization)
        assert_no_server_error(response, token_endpoint=False)
        assert response.status_code in (401, 404, 405), response.status_code


@fuzz_settings
@given(
    url=st.sampled_from(TOKEN_URLS),
    body=st.binary(max_size=2048),
    content_type=st.sampled_from(["application/json", FORM, "application/json; charset=utf-8"]),
)
def test_any_body_bytes_are_below_500(
    safe_client: Client, url: str, body: bytes, content_type: str
) -> None:
    assert_no_server_error(safe_client.post(url, body, content_type=content_type))


@fuzz_settings
@given(url=st.sampled_from(TOKEN_URLS), body=json_bodies)
def test_any_json_value_is_below_500(safe_client: Client, url: str, body: Any) -> None:
    raw = json.dumps(body)  # surrogates come out as \\udxxx escapes, NaN as a bare NaN

    response = safe_client.post(url, raw, content_type="application/json")

    assert_no_server_error(response)


@fuzz_settings
@given(
    url=st.sampled_from(FORM_URLS),
    fields=st.dictionaries(
        st.sampled_from([*FIELDS, "client_id"]),
        st.one_of(
            st.text(), refresh_token_like, jwt_like, st.sampled_from(["password", "refresh_token"])
        ),
    ),
)
def test_any_form_fields_are_below_500(
    safe_client: Client, url: str, fields: dict[str, str]
) -> None:
    body = urlencode({key: value.encode("utf-8", "surrogatepass") for key, value in fields.items()})

    response = safe_client.post(url, body, content_type=FORM)

    assert_no_server_error(response)


@fuzz_settings
@given(refresh_token=st.one_of(refresh_token_like, nasty_text, jwt_like))
def test_any_refresh_token_is_below_500_and_revokes_nothing(
    safe_client: Client, user: Any, refresh_token: str
) -> None:
    tokens = service.issue_tokens(user=user)
    for url in ("/auth/refresh/", "/auth/logout/"):
        response = post_json(safe_client, url, {"refresh_token": refresh_token})
        assert_no_server_error(response)
    assert_no_server_error(post_json(safe_client, "/auth/revoke/", {"token": refresh_token}))
    parsed = _refresh_tokens.parse(tokens.refresh_token)
    assert parsed is not None
    assert RefreshTokenFamily.objects.get(public_id=parsed.public_id).revoked_at is None


@pytest.mark.parametrize("charset", ["rot13", "hex", "base64"])  # unknown ones: Django ignores
@pytest.mark.parametrize(
    ("url", "media_type", "body"),
    [
        ("/auth/login/", "application/json", b'{"username": "a", "password": "b"}'),
        ("/auth/refresh/", "application/json", b'{"refresh_token": "t"}'),
        ("/auth/token/", "application/x-www-form-urlencoded", b"grant_type=password"),
        ("/auth/revoke/", "application/x-www-form-urlencoded", b"token=t"),
    ],
)
def test_a_body_in_a_charset_that_is_no_text_encoding_is_a_clear_400(
    safe_client: Client, url: str, media_type: str, body: bytes, charset: str
) -> None:
    response = safe_client.generic(
        "POST", url, body, content_type=f"{media_type}; charset={charset}"
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert "charset" in response.json()["error_description"]
