"""The refresh-token format (DESIGN §4, §5): prefix, shape, parser and MAC."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import NEW_SECRET_KEY, OLD_SECRET_KEY
from tokenauth import _refresh_tokens, service
from tokenauth._refresh_tokens import ParsedRefreshToken, make_refresh_token, parse, verify
from tokenauth.models import RefreshTokenFamily

URL_SAFE = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)


def _token(generation: int = 0) -> tuple[str, str, str]:
    """A genuine token, its family secret and public id."""
    family_secret = _refresh_tokens.new_family_secret()
    public_id = _refresh_tokens.new_public_id()
    token = make_refresh_token(
        family_secret=family_secret, public_id=public_id, generation=generation
    )
    return token, family_secret, public_id


def _b64_bytes(value: str) -> int:
    return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def test_token_is_prefix_public_id_generation_mac() -> None:
    token, _, public_id = _token(generation=7)

    assert token.startswith("tkrt_")
    assert _refresh_tokens.PREFIX == "tkrt_"
    assert URL_SAFE.fullmatch(token)
    body = token.removeprefix("tkrt_")
    token_public_id, generation, mac = body.split(".")
    assert token_public_id == public_id
    assert generation == "7"
    assert _b64_bytes(mac) == 32  # a 256-bit MAC


def test_public_id_has_over_128_random_bits_and_secret_256() -> None:
    public_ids = {_refresh_tokens.new_public_id() for _ in range(2000)}
    family_secrets = {_refresh_tokens.new_family_secret() for _ in range(50)}

    assert len(public_ids) == 2000
    assert len(family_secrets) == 50
    # 62 choices for the first character, 64 for the 21 others: about 132 bits.
    assert all(len(p) == 22 and _refresh_tokens.is_public_id(p) for p in public_ids)
    assert all(p[0].isalnum() for p in public_ids)  # never read as a command-line option
    assert len({p[0] for p in public_ids}) > 50  # and the first character still varies
    assert {c for p in public_ids for c in p[1:]} >= set("-_")
    assert all(len(bytes.fromhex(s)) == 32 for s in family_secrets)


def test_token_is_not_a_jwt() -> None:
    token, _, _ = _token()

    first_segment = token.split(".")[0]
    assert not first_segment.startswith("eyJ")  # base64 of '{"'
    assert token.count(".") == 2


@pytest.mark.parametrize("generation", [0, 1, 42, 9_999_999_999])
def test_parse_round_trips_a_genuine_token(generation: int) -> None:
    token, family_secret, public_id = _token(generation=generation)

    parsed = parse(token)

    assert parsed is not None
    assert parsed.public_id == public_id
    assert parsed.generation == generation
    assert verify(parsed, family_secret=family_secret)


def _genuine() -> str:
    return _token(generation=12)[0]


def _swap_generation(token: str, generation: str) -> str:
    public_id, _, mac = token.removeprefix("tkrt_").split(".")
    return f"tkrt_{public_id}.{generation}.{mac}"


@pytest.mark.parametrize(
    "make_bad",
    [
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "garbage", id="garbage"),
        pytest.param(lambda t: "tkrt_", id="prefix-only"),
        pytest.param(lambda t: t.replace("tkrt_", "tkat_"), id="wrong-prefix"),
        pytest.param(lambda t: t.removeprefix("tkrt_"), id="no-prefix"),
        pytest.param(lambda t: t.upper(), id="upper-case"),
        pytest.param(lambda t: t + "A" * 200, id="overlong"),
        pytest.param(lambda t: t + "x", id="mac-too-long"),
        pytest.param(lambda t: t[:-1], id="mac-too-short"),
        pytest.param(lambda t: t + "=", id="mac-padded"),
        pytest.param(lambda t: t.replace(".", "", 1), id="missing-dot"),
        pytest.param(lambda t: t.replace("tkrt_", "tkrt_A", 1), id="public-id-too-long"),
        pytest.param(lambda t: "tkrt_" + t[6:], id="public-id-too-short"),
        pytest.param(lambda t: " " + t, id="leading-space"),
        pytest.param(lambda t: t + "\n", id="trailing-newline"),
        pytest.param(lambda t: t[:10] + "\x00" + t[11:], id="nul-inside"),
        pytest.param(lambda t: t + "\x00", id="nul-after"),
        pytest.param(lambda t: t[:10] + "é" + t[11:], id="unicode-letter"),
        pytest.param(lambda t: _swap_generation(t, "١٢"), id="arabic-indic-digits"),
        pytest.param(lambda t: _swap_generation(t, "\uff11\uff12"), id="fullwidth-digits"),
        pytest.param(lambda t: _swap_generation(t, "12345678901"), id="11-digit-generation"),
        pytest.param(lambda t: _swap_generation(t, "99999999999"), id="11-nines"),
        pytest.param(lambda t: _swap_generation(t, "012"), id="leading-zero"),
        pytest.param(lambda t: _swap_generation(t, "00"), id="double-zero"),
        pytest.param(lambda t: _swap_generation(t, "-1"), id="negative"),
        pytest.param(lambda t: _swap_generation(t, "+1"), id="plus-sign"),
        pytest.param(lambda t: _swap_generation(t, "1_0"), id="underscore-digit"),
        pytest.param(lambda t: _swap_generation(t, ""), id="empty-generation"),
        pytest.param(lambda t: _swap_generation(t, " 1"), id="space-generation"),
    ],
)
def test_parse_refuses_malformed_tokens(make_bad: Any) -> None:
    bad = make_bad(_genuine())

    assert parse(bad) is None


def test_parse_accepts_the_largest_generation_only() -> None:
    token, _, _ = _token()

    ten_digits = parse(_swap_generation(token, "9999999999"))
    eleven_digits = parse(_swap_generation(token, "10000000000"))

    assert ten_digits is not None
    assert ten_digits.generation == _refresh_tokens.MAX_GENERATION
    assert eleven_digits is None


def test_mac_verifies_only_with_the_family_secret() -> None:
    token, family_secret, _ = _token(generation=3)
    parsed = parse(token)
    assert parsed is not None

    assert verify(parsed, family_secret=family_secret)
    assert not verify(parsed, family_secret=_refresh_tokens.new_family_secret())
    assert not verify(parsed, family_secret="")


def test_mac_covers_generation_and_public_id() -> None:
    token, family_secret, _ = _token(generation=3)
    parsed = parse(token)
    assert parsed is not None

    other_generation = ParsedRefreshToken(parsed.public_id, 4, parsed.mac)
    other_public_id = ParsedRefreshToken(_refresh_tokens.new_public_id(), 3, parsed.mac)

    assert not verify(other_generation, family_secret=family_secret)
    assert not verify(other_public_id, family_secret=family_secret)


def test_tampered_mac_is_refused() -> None:
    token, family_secret, _ = _token()
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    parsed = parse(flipped)

    assert parsed is not None
    assert not verify(parsed, family_secret=family_secret)


def test_mac_depends_on_secret_key(settings: Any) -> None:
    settings.SECRET_KEY = OLD_SECRET_KEY
    token, family_secret, public_id = _token(generation=5)
    settings.SECRET_KEY = NEW_SECRET_KEY
    settings.SECRET_KEY_FALLBACKS = []

    parsed = parse(token)

    assert parsed is not None
    assert not verify(parsed, family_secret=family_secret)
    remade = make_refresh_token(family_secret=family_secret, public_id=public_id, generation=5)
    assert token != remade


def test_secret_key_fallbacks_are_honoured(settings: Any) -> None:
    settings.SECRET_KEY = OLD_SECRET_KEY
    token, family_secret, public_id = _token(generation=5)
    settings.SECRET_KEY = NEW_SECRET_KEY
    settings.SECRET_KEY_FALLBACKS = ["unrelated-fallback-key-0123456789abcdef", OLD_SECRET_KEY]

    parsed = parse(token)
    fresh = make_refresh_token(family_secret=family_secret, public_id=public_id, generation=5)
    fresh_parsed = parse(fresh)

    assert parsed is not None
    assert fresh_parsed is not None
    assert verify(parsed, family_secret=family_secret)
    assert fresh != token  # new tokens are made under the new key
    assert verify(fresh_parsed, family_secret=family_secret)


def test_parsed_token_repr_hides_the_mac() -> None:
    token, _, public_id = _token(generation=2)
    parsed = parse(token)
    assert parsed is not None

    assert parsed.mac not in repr(parsed)
    assert token not in repr(parsed)
    assert public_id in repr(parsed)


@given(st.text())
def test_parse_never_raises_on_arbitrary_text(text: str) -> None:
    parsed = parse(text)

    assert parsed is None or isinstance(parsed, ParsedRefreshToken)


@given(
    st.from_regex(
        r"tkrt_[A-Za-z0-9_\-]{20,24}\.[0-9\-+ ]{0,12}\.[A-Za-z0-9_\-=]{40,46}", fullmatch=True
    )
)
def test_parse_near_misses_give_none_or_a_bounded_token(text: str) -> None:
    parsed = parse(text)

    if parsed is not None:
        assert 0 <= parsed.generation <= _refresh_tokens.MAX_GENERATION
        assert len(parsed.public_id) == 22
        assert len(parsed.mac) == 43
        assert text == f"tkrt_{parsed.public_id}.{parsed.generation}.{parsed.mac}"


@given(st.binary(max_size=256))
def test_parse_never_raises_on_decoded_bytes(data: bytes) -> None:
    text = data.decode("utf-8", errors="surrogateescape")

    assert parse(text) is None or text.isascii()


def test_a_family_at_the_last_generation_refuses_to_rotate(user: Any) -> None:
    issued = service.issue_tokens(user=user)
    family = RefreshTokenFamily.objects.get()
    RefreshTokenFamily.objects.filter(pk=family.pk).update(
        generation=_refresh_tokens.MAX_GENERATION
    )
    last = _refresh_tokens.make_refresh_token(
        family_secret=family.secret,
        public_id=family.public_id,
        generation=_refresh_tokens.MAX_GENERATION,
    )
    assert _refresh_tokens.parse(last) is not None  # ten digits still parse

    with pytest.raises(service.InvalidRefreshToken) as refused:
        service.refresh(refresh_token=last, ip=None, user_agent="")

    assert refused.value.reason == "exhausted"
    assert RefreshTokenFamily.objects.get().generation == _refresh_tokens.MAX_GENERATION
    assert issued.family_public_id == family.public_id
