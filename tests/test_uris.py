"""``tokenauth._uris.normalised_uri``: RFC 3986 §6.2.2-6.2.3 for DPoP's ``htu``; the cases
themselves are in tests/test_dpop_proofs.py, through ``check_proof``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth._uris import normalised_uri

_URIS = st.one_of(
    st.text(max_size=80),
    st.builds(
        "{}://{}{}{}".format,
        st.sampled_from(["http", "HTTPS", "h2", "x"]),
        st.from_regex(r"[A-Za-z0-9.%:@\[\]-]{0,20}", fullmatch=True),
        st.sampled_from(["", ":", ":80", ":443", ":0080", ":65536", ":x"]),
        st.text(alphabet="/.%aZ09~-_?#é ;=", max_size=30),
    ),
)


@given(_URIS)
def test_any_text_gives_a_normal_form_or_none_and_nothing_else(uri: str) -> None:
    normal = normalised_uri(uri)

    if normal is not None:
        assert "?" not in normal and "#" not in normal
        assert normal.isascii()
        assert normalised_uri(normal) == normal  # a normal form is its own normal form


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        ("HTTPS://Example.COM:443/a/./b/../c?x#y", "https://example.com/a/c"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:/%7euser/%c3%a9", "http://example.com/~user/%C3%A9"),
        ("http://h:080/", "http://h/"),
        ("http://[::1]:8000/x", "http://[::1]:8000/x"),
        ("https://ex.com/a b/café", "https://ex.com/a%20b/caf%C3%A9"),
        ("http://EX%41mple.com/", "http://example.com/"),
        ("http://h/a/%2f/b", "http://h/a/%2F/b"),
        ("http://h/%", "http://h/%25"),
    ],
)
def test_normal_forms(uri: str, normal: str) -> None:
    assert normalised_uri(uri) == normal


@pytest.mark.parametrize(
    "uri",
    ["/relative", "example.com/a", "http://:80/", "http://h:8a/", "http://h:99999/", "1http://h/"],
)
def test_no_absolute_uri_is_none(uri: str) -> None:
    assert normalised_uri(uri) is None


@given(path=st.text(alphabet="/.%aZ09~-_?#é ;=+&@:\x7f", max_size=30))
def test_a_requests_htu_is_what_build_absolute_uri_says(path: str) -> None:
    """The DPoP layer builds the request URI itself (cheaper): it must compare the same."""
    from django.test import RequestFactory
    from rest_framework.request import Request

    from tokenauth._dpop_requests import _request_uri

    request = Request(RequestFactory().get("/"))
    request._request.path = "/" + path  # as Django decodes it from PATH_INFO

    assert normalised_uri(_request_uri(request)) == normalised_uri(request.build_absolute_uri())
