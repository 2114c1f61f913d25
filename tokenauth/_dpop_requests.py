"""A request's DPoP proof (DESIGN §8), read and checked for the HTTP layer: token endpoints
and ``AccessTokenAuthentication``; the checks themselves are ``tokenauth.dpop``'s."""

from __future__ import annotations

from django.utils import timezone
from django.utils.encoding import escape_uri_path
from rest_framework.request import Request

from tokenauth.dpop import DPoPProofError, check_proof, current_nonce
from tokenauth.settings import get_settings

__all__ = ["nonce_header", "resource_proof_jkt", "token_request_jkt"]

_HEADER = "HTTP_DPOP"


def token_request_jkt(request: Request) -> str | None:
    """The key thumbprint of a token request's valid proof; None without a proof (or with
    ``DPOP`` "off": the header is ignored). Raises ``DPoPProofError`` (an invalid proof, a
    missing one under "required", a missing nonce with ``DPOP_NONCE``) or
    ``ReplayCacheUnavailable``."""
    conf = get_settings()
    if conf.dpop == "off":
        return None
    proof = request.META.get(_HEADER)
    if proof is None:
        if conf.dpop == "required":
            raise DPoPProofError("A DPoP proof is required.")
        return None
    checked = check_proof(
        proof,
        method=request.method or "",
        url=_request_uri(request),
        access_token=None,
        expected_jkt=None,
        require_nonce=conf.dpop_nonce,
        now=timezone.now(),
    )
    return checked.jkt


def resource_proof_jkt(request: Request, *, access_token: str, expected_jkt: str) -> str:
    """Check a resource request's proof for ``access_token``, bound to ``expected_jkt``
    (RFC 9449 §7.1; no nonce required, one sent is accepted). Raises ``DPoPProofError`` or
    ``ReplayCacheUnavailable``."""
    proof = request.META.get(_HEADER)
    if proof is None:
        raise DPoPProofError("A DPoP proof is required with the DPoP scheme.")
    return check_proof(
        proof,
        method=request.method or "",
        url=_request_uri(request),
        access_token=access_token,
        expected_jkt=expected_jkt,
        require_nonce=False,
        now=timezone.now(),
    ).jkt


def nonce_header() -> dict[str, str]:
    """``DPoP-Nonce`` for every token endpoint response while ``DPOP_NONCE`` is on."""
    conf = get_settings()
    if conf.dpop == "off" or not conf.dpop_nonce:
        return {}
    return {"DPoP-Nonce": current_nonce(timezone.now())}


def _request_uri(request: Request) -> str:
    """What ``request.build_absolute_uri()`` says, less the query the ``htu`` check ignores:
    the same scheme, host and escaped path, without building and joining the whole URL
    again on every DPoP request (tests/test_uris.py checks both compare alike)."""
    return f"{request.scheme}://{request.get_host()}{escape_uri_path(request.path)}"
