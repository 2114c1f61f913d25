"""Racing first proofs (DESIGN §8): an unbound family refreshed at once with proofs by ten
different keys is bound to exactly one of them; the winner alone gets DPoP tokens, the others
400 invalid_dpop_proof, and nothing is revoked. Needs a server database (row locks)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client

from tests.conftest import post_json, requires_server_database
from tests.dpop_proofs import Signer, jwt_claims, proof_for
from tests.test_concurrency import CLIENT_META, THREADS, family_of, run_concurrently

pytestmark = requires_server_database
REFRESH = "http://testserver/auth/refresh/"


def test_racing_first_proofs_bind_the_family_to_one_key(
    transactional_db: None, user: Any, login: Any, tokenauth_settings: Any
) -> None:
    tokenauth_settings(DPOP="allowed", REUSE_GRACE_PERIOD=timedelta(seconds=10))
    body = login(user, **CLIENT_META)
    signers = [Signer("ES256") for _ in range(THREADS)]

    def refresh_with(signer: Signer) -> Any:
        proof = proof_for(signer, REFRESH)
        return lambda: post_json(
            Client(),
            "/auth/refresh/",
            {"refresh_token": body["refresh_token"]},
            HTTP_DPOP=proof,
            **CLIENT_META,
        )

    responses = run_concurrently(*[refresh_with(signer) for signer in signers])

    family = family_of(body)
    assert family.revoked_at is None
    assert family.generation == 1
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.content for r in responses]
    (winner,) = winners
    assert winner.json()["token_type"] == "DPoP"
    assert jwt_claims(winner.json()["access_token"])["cnf"] == {"jkt": family.dpop_jkt}
    assert family.dpop_jkt in {signer.jkt for signer in signers}
    losers = [r.json()["error"] for r in responses if r.status_code != 200]
    assert losers == ["invalid_dpop_proof"] * (THREADS - 1)
