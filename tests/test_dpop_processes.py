"""DPoP nonces are stateless (DESIGN §8): a nonce one server process hands out is accepted by
another. Two ``manage.py runserver`` processes of the test project share a SQLite file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dpop_proofs import Signer, proof_for
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = "tests.dpop_server_settings"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "manage.py", *args, f"--settings={SETTINGS}"]
    return subprocess.run(  # noqa: S603  # our own interpreter and arguments
        command, cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )


def _wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "runserver exited"
        try:
            jwks = f"http://127.0.0.1:{port}/auth/jwks.json"
            urllib.request.urlopen(jwks, timeout=2)  # our server
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    pytest.fail(f"runserver on port {port} did not answer")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    database = tmp_path_factory.mktemp("dpop") / "db.sqlite3"
    env = {**os.environ, "TOKENAUTH_DPOP_DB": str(database), "PYTHONPATH": str(ROOT)}
    _manage(env, "migrate", "--verbosity=0")
    create = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('alice', password={PASSWORD!r})"
    )
    _manage(env, "shell", "-c", create)
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen(  # noqa: S603  # our own interpreter and arguments
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
                f"--settings={SETTINGS}",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            _wait_until_up(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def _post(
    port: int, path: str, body: dict[str, Any], proof: str
) -> tuple[int, dict[str, Any], Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "DPoP": proof},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # our server
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def test_a_nonce_from_one_process_is_accepted_by_the_other(servers: list[int]) -> None:
    first, second = servers
    signer = Signer("ES256")
    credentials = {"username": "alice", "password": PASSWORD}
    login_url = "http://127.0.0.1:{}/auth/login/"

    status, body, headers = _post(
        first, "/auth/login/", credentials, proof_for(signer, login_url.format(first))
    )
    assert (status, body["error"]) == (400, "use_dpop_nonce")
    nonce = headers["DPoP-Nonce"]

    proof = proof_for(signer, login_url.format(second), nonce=nonce)
    status, body, headers = _post(second, "/auth/login/", credentials, proof)
    assert status == 200, body
    assert body["token_type"] == "DPoP"

    # And back: the second process's nonce refreshes at the first.
    refresh_url = f"http://127.0.0.1:{first}/auth/refresh/"
    proof = proof_for(signer, refresh_url, nonce=headers["DPoP-Nonce"])
    status, body, _ = _post(
        first, "/auth/refresh/", {"refresh_token": body["refresh_token"]}, proof
    )
    assert status == 200, body
    assert body["token_type"] == "DPoP"


def test_a_forged_nonce_is_refused_by_both(servers: list[int]) -> None:
    signer = Signer("ES256")
    credentials = {"username": "alice", "password": PASSWORD}
    for port in servers:
        proof = proof_for(signer, f"http://127.0.0.1:{port}/auth/login/", nonce="forged")
        status, body, headers = _post(port, "/auth/login/", credentials, proof)
        assert (status, body["error"]) == (400, "use_dpop_nonce")
        assert headers["DPoP-Nonce"] != "forged"
