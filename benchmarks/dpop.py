"""DPoP's cost (issue 10): a bound request against a bearer one in the same revocation mode, and
``dpop.check_proof`` against a bare ``cryptography`` ES256 verify of the same proofs.

Proofs are signed before the rounds start (a client's signing is not the server's cost), one
per operation: ``check_proof`` records every ``jti``, so none can be used twice.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.conf import settings
from django.test.utils import override_settings

from benchmarks.harness import Contender, call, expect, run_alternating

ORIGIN = "http://127.0.0.1"  # what request.build_absolute_uri() says in benchmarks.harness
API = "/api/tokenauth/"
VERIFY_API = "/api/tokenauth-verify/"  # the same, with BearerAndBareVerify
FLOOR = "Bearer + bare ES256 verify + cache add"
REQUEST_SECTION = "authenticated request, DPoP-bound vs bearer"
PROOF_SECTION = "verify DPoP proof"
REFERENCE = {
    REQUEST_SECTION: "tokenauth (database), Bearer",
    PROOF_SECTION: "tokenauth check_proof",
}
MODES = ("database", "cache", "none")  # ACCESS_TOKEN_REVOCATION
# The request rounds run for longer than the default 60 s window on a slow machine: proofs
# signed up front must stay acceptable (the window's length costs nothing per check).
PROOF_MAX_AGE = timedelta(minutes=30)


class ProofSigner:
    """One client's ES256 key; signs proofs as a DPoP client would (RFC 9449 §4.2)."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)

    def proof(
        self, method: str, path: str, *, access_token: str | None = None, iat: int | None = None
    ) -> str:
        from tokenauth.dpop import access_token_hash

        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": ORIGIN + path,
            "iat": iat if iat is not None else int(datetime.now(timezone.utc).timestamp()),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="ES256",
            headers={"typ": "dpop+jwt", "jwk": self.jwk},
        )

    def proofs(self, count: int, method: str, path: str, **kwargs: Any) -> Iterator[str]:
        return iter([self.proof(method, path, **kwargs) for _ in range(count)])


def _needed(rounds: int, ops: int, warmup: int) -> int:
    return warmup + 1 + rounds * ops  # run_alternating: warmup, one counted run, the rounds


def _tokenauth_settings(mode: str, **extra: object) -> Callable[[], Any]:
    return lambda: override_settings(
        TOKENAUTH={
            **settings.TOKENAUTH,
            "ACCESS_TOKEN_REVOCATION": mode,
            "DPOP": "allowed",
            "DPOP_PROOF_MAX_AGE": PROOF_MAX_AGE,
            **extra,
        }
    )


def _login(username: str, password: str, signer: ProofSigner | None) -> dict[str, Any]:
    headers = {"DPoP": signer.proof("POST", "/auth/login/")} if signer else None
    body = {"username": username, "password": password}
    with _tokenauth_settings("database")():
        return expect(call("POST", "/auth/login/", json_body=body, headers=headers)).json()


def request_section(
    username: str, password: str, rounds: int, ops: int, *, cache_backend: str
) -> list[Contender]:
    """GET the benchmarks' trivial view with a bound access token and a proof, against the same
    view with a bearer token of the same user, in each revocation mode; on the run's cache,
    and on an in-process one too when that is Redis (a round trip per proof's ``jti``)."""
    signer = ProofSigner()
    bearer = _login(username, password, None)["access_token"]
    bound = _login(username, password, signer)
    with _tokenauth_settings("database")():
        probe = call(
            "GET",
            API,
            authorization=f"DPoP {bound['access_token']}",
            headers={"DPoP": signer.proof("GET", API, access_token=bound["access_token"])},
        )
    if bound["token_type"] != "DPoP" or probe.status != 200:  # no DPoP: nothing to compare
        note = f"n/a: login/ said token_type {bound['token_type']!r}, {API} {probe.status}"
        return [
            Contender(f"tokenauth ({mode}), {scheme}", lambda: lambda: None, note=note)
            for mode in MODES
            for scheme in ("Bearer", FLOOR, "DPoP")
        ]
    warmup = 20

    def dpop_get() -> Callable[[], object]:
        pool = signer.proofs(
            _needed(rounds, ops, warmup), "GET", API, access_token=bound["access_token"]
        )
        authorization = f"DPoP {bound['access_token']}"
        return lambda: expect(
            call("GET", API, authorization=authorization, headers={"DPoP": next(pool)})
        )

    def bearer_get() -> Callable[[], object]:
        return lambda: expect(call("GET", API, bearer=bearer))

    from benchmarks.urls import BearerAndBareVerify  # once Django is set up

    BearerAndBareVerify.verify = staticmethod(_bare_verifier(signer))  # type: ignore[method-assign]

    def bearer_and_verify_get() -> Callable[[], object]:
        pool = signer.proofs(_needed(rounds, ops, warmup), "GET", VERIFY_API)
        return lambda: expect(call("GET", VERIFY_API, bearer=bearer, headers={"DPoP": next(pool)}))

    caches: list[tuple[str, dict[str, object], str]] = [("", {}, cache_backend)]
    if cache_backend != "LocMem":
        caches.append((" on LocMem", {"CACHE_ALIAS": "locmem"}, "LocMem"))
    contenders = []
    for label, extra, cache in caches:
        for mode in MODES:
            context = _tokenauth_settings(mode, **extra)
            name = f"tokenauth ({mode}){label}"
            contenders += [
                Contender(f"{name}, Bearer", bearer_get, True, context=context),
                Contender(
                    f"{name}, {FLOOR}",
                    bearer_and_verify_get,
                    True,
                    note="the least DPoP can add",
                    context=context,
                ),
                Contender(
                    f"{name}, DPoP",
                    dpop_get,
                    True,
                    note=f"+ one ES256 verify, one {cache} add",
                    context=context,
                ),
            ]
    run_alternating(contenders, rounds=rounds, ops_per_round=ops, warmup=warmup)
    return contenders


def _bare_verifier(signer: ProofSigner) -> Callable[[str], None]:
    """What any verifier must do with a proof: take the signature apart and verify it, with the
    public key built once (``check_proof`` keeps a client's parsed key too)."""
    public_key = signer.private_key.public_key()
    algorithm = ec.ECDSA(hashes.SHA256())

    def verify(proof: str) -> None:
        signing_input, _, signature = proof.rpartition(".")
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        public_key.verify(encode_dss_signature(r, s), signing_input.encode(), algorithm)

    return verify


def proof_section(rounds: int, ops: int, *, cache_backend: str) -> list[Contender]:
    """``check_proof`` for a resource request (``ath`` and ``jkt`` checked, ``jti`` recorded)
    on the in-process cache and on the run's own, against verifying the signature alone."""
    from tokenauth.dpop import check_proof

    signer = ProofSigner()
    access_token = "benchmark-access-token"
    now = datetime.now(timezone.utc)
    iat = int(now.timestamp())

    def check(proof: str, expected_jkt: str | None) -> str:
        return check_proof(
            proof,
            method="GET",
            url=ORIGIN + API,
            access_token=access_token,
            expected_jkt=expected_jkt,
            require_nonce=False,
            now=now,
        ).jkt

    jkt = check(signer.proof("GET", API, access_token=access_token, iat=iat), None)
    warmup = 200
    needed = _needed(rounds, ops, warmup)

    def checked() -> Callable[[], object]:
        pool = signer.proofs(needed, "GET", API, access_token=access_token, iat=iat)
        return lambda: check(next(pool), jkt)

    def verified(verify: Callable[[str], object]) -> Callable[[], Callable[[], object]]:
        def make() -> Callable[[], object]:  # as many proofs as check_proof gets, each once
            pool = signer.proofs(needed, "GET", API, access_token=access_token, iat=iat)
            return lambda: verify(next(pool))

        return make

    pyjwt_key = jwt.PyJWK(signer.jwk, algorithm="ES256")
    contenders = [
        Contender(
            "tokenauth check_proof",
            checked,
            True,
            note="replay cache: LocMem",
            context=_tokenauth_settings("database", CACHE_ALIAS="locmem"),
        ),
    ]
    if cache_backend != "LocMem":
        contenders.append(
            Contender(
                f"tokenauth check_proof, replay cache on {cache_backend}",
                checked,
                True,
                context=_tokenauth_settings("database"),
            )
        )
    contenders += [
        Contender(
            "jwt.decode with the proof's jwk",
            verified(
                lambda proof: jwt.decode(
                    proof, pyjwt_key, algorithms=["ES256"], options={"verify_iat": False}
                )
            ),
            note="signature and JSON only",
        ),
        Contender(
            "cryptography ES256 verify (limit)",
            verified(_bare_verifier(signer)),
            note="the same proofs, the key built once",
        ),
    ]
    run_alternating(contenders, rounds=rounds, ops_per_round=ops, warmup=warmup)
    return contenders


def targets(result: dict[str, Any], speed_ratio: Callable[..., float]) -> list[str]:
    """The issue's two targets, as lines of the report (never a pass/fail of the run)."""
    db = result["database"]
    rows = {r["library"]: r for r in result["sections"].get(REQUEST_SECTION, [])}
    lines = []
    for name, bound in rows.items():
        if not name.endswith(", DPoP"):
            continue
        bearer = rows[name.removesuffix("DPoP") + "Bearer"]
        what = name.removeprefix("tokenauth (").removesuffix(", DPoP").replace(")", " mode", 1)
        if "median_us" not in bound:
            lines.append(f"- {db}: DPoP-bound request, {what}: not measured ({bound['note']})")
            continue
        ratio = speed_ratio(bearer, bound)
        floor = rows[name.removesuffix("DPoP") + FLOOR]
        verdict = "met" if ratio <= 1.3 else "MISSED"
        lines.append(
            f"- {db}: DPoP-bound request, {what}, takes {ratio:.2f}x the time of a bearer one "
            f"(target ≤ 1.3x) {verdict}; queries {bound['queries']} vs {bearer['queries']}. "
            f"A bearer request plus one bare ES256 verify and one cache add takes "
            f"{speed_ratio(bearer, floor):.2f}x; "
            f"DPoP takes {speed_ratio(floor, bound):.2f}x that"
        )
    proofs = {r["library"]: r for r in result["sections"].get(PROOF_SECTION, [])}
    if "tokenauth check_proof" in proofs:
        ratio = speed_ratio(
            proofs["cryptography ES256 verify (limit)"], proofs["tokenauth check_proof"]
        )
        verdict = "met" if ratio <= 1.5 else "MISSED"
        lines.append(
            f"- {db} run: check_proof takes {ratio:.2f}x the time of a bare cryptography ES256 "
            f"verify of the same proofs, replay cache on LocMem (target ≤ 1.5x) {verdict}; "
            f"queries {proofs['tokenauth check_proof']['queries']}"
        )
    return lines
