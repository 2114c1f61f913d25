"""Parse the DPoP keys of ``TOKENAUTH`` (DESIGN §8): which proof algorithms may be accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

__all__ = ["PROOF_ALGORITHMS", "DPoPMode", "parse_dpop_algorithms"]

DPoPMode = Literal["off", "allowed", "required"]

# The asymmetric JWS algorithms a proof may use (RFC 9449 §4.3 check 5), each with the key
# type that fits it: EC P-256/P-384, OKP Ed25519, RSA. Never "none", never an HMAC: a proof
# must show possession of a private key the server never sees.
PROOF_ALGORITHMS = frozenset(
    {"ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)

Problem = Callable[[str, str], None]  # (check id, message)


def parse_dpop_algorithms(raw: object, problem: Problem) -> tuple[str, ...]:
    """``DPOP_ALGORITHMS`` as a tuple: E002 for no list of strings, E012 for an empty list or
    a name outside ``PROOF_ALGORITHMS`` (an HMAC, "none", a typo), never silently dropped."""
    label = "TOKENAUTH['DPOP_ALGORITHMS']"
    if not isinstance(raw, (list, tuple)) or not all(isinstance(name, str) for name in raw):
        problem("E002", f"{label} must be a list of algorithm names, not {raw!r}.")
        return ()
    refused = sorted({name for name in raw if name not in PROOF_ALGORITHMS})
    if refused:
        problem(
            "E012",
            f"{label} names {', '.join(map(repr, refused))}: a proof must use one of "
            f"{', '.join(sorted(PROOF_ALGORITHMS))} (asymmetric signatures only).",
        )
        return ()
    if not raw:
        problem("E012", f"{label} is empty: no proof could ever be accepted.")
        return ()
    return tuple(dict.fromkeys(raw))  # the order given, each name once
