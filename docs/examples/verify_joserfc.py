"""Verify a tokenauth access token in another Python service, from jwks.json alone (joserfc).

Run: python verify_joserfc.py --jwks-url URL --issuer ISS --audience AUD --algorithm ES256 TOKEN
It prints the token's claims as JSON, or the reason it refused the token (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, KeySet

ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}  # RFC 9068 §4, case-insensitive
REQUIRED_CLAIMS = ("sub", "sid", "iat", "exp")  # what tokenauth's own verification requires


class KeySetCache:
    """jwks.json, kept for its Cache-Control max-age and fetched again for an unknown kid."""

    def __init__(self, jwks_url: str, max_age: float = 300.0) -> None:
        self.jwks_url = jwks_url
        self.max_age = max_age
        self.fetched_at = float("-inf")
        self.key_set = KeySet([])

    def for_token(self, token: GuestProtocol) -> KeySet:
        """The keys to verify ``token`` with (joserfc then picks the one its ``kid`` names)."""
        kid = token.headers().get("kid")
        if not isinstance(kid, str):
            raise ValueError("no kid")  # tokenauth always sends one
        stale = time.monotonic() - self.fetched_at > self.max_age
        unknown = not any(key.kid == kid for key in self.key_set)
        # Re-fetch at most every 30 s, so forged kids cannot make us hammer the server.
        if stale or (unknown and time.monotonic() - self.fetched_at > 30):
            with urllib.request.urlopen(self.jwks_url, timeout=5) as response:  # noqa: S310
                self.key_set = KeySet.import_key_set(json.load(response))
            self.fetched_at = time.monotonic()
        return self.key_set


def verify(
    access_token: str, keys: KeySetCache, *, issuer: str, audience: str, algorithm: str
) -> dict[str, object]:
    """The claims of a valid access token; raises ``JoseError`` (or ``ValueError``) otherwise."""
    # Pin the algorithm the server signs with: never trust the token's own "alg" header.
    token = jwt.decode(access_token, keys.for_token, algorithms=[algorithm])
    if str(token.header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
        raise ValueError("not an access token (typ)")  # an ID token, say, signed by the same key
    registry = jwt.JWTClaimsRegistry(
        leeway=0,  # the server's LEEWAY, if you set one
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        **{claim: {"essential": True} for claim in REQUIRED_CLAIMS},
    )
    registry.validate(token.claims)  # signature checked above; now exp, iat, iss, aud
    return token.claims


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jwks-url", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--algorithm", default="ES256")
    parser.add_argument("access_token")
    args = parser.parse_args()
    keys = KeySetCache(args.jwks_url)
    try:
        claims = verify(
            args.access_token,
            keys,
            issuer=args.issuer,
            audience=args.audience,
            algorithm=args.algorithm,
        )
    except (JoseError, ValueError) as exc:
        print(f"refused: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
