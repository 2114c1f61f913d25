"""A small HTTP client for the proof: one fresh connection per request, timed, never raising
for a status, so every answer (500s included) is recorded as what a user would have seen."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any

USER_AGENT = "tokenauth-proof/1.0"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(repr=False)  # names lower-cased
    body: bytes = field(repr=False)
    seconds: float

    @property
    def pid(self) -> int | None:
        """The gunicorn worker that answered (``X-Worker-Pid``), None if none was sent."""
        value = self.headers.get("x-worker-pid")
        return int(value) if value else None

    def json(self) -> Any:
        return json.loads(self.body)

    def describe(self) -> str:
        """Status, worker and the start of the body: enough for an assertion message."""
        return f"{self.status} from pid {self.pid}: {self.body[:300]!r}"


@dataclass(frozen=True)
class ProofClient:
    """Talks to one server; sync gunicorn workers close every connection, so do we."""

    host: str
    port: int
    user_agent: str = USER_AGENT
    timeout: float = 30.0

    def request(
        self, method: str, path: str, body: dict[str, str] | None = None, *, bearer: str = ""
    ) -> Reply:
        headers = {"User-Agent": self.user_agent, "Connection": "close"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        return Reply(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=content,
            seconds=time.perf_counter() - started,
        )

    def login(self, username: str, password: str) -> Reply:
        return self.request("POST", "/auth/login/", {"username": username, "password": password})

    def refresh(self, refresh_token: str) -> Reply:
        return self.request("POST", "/auth/refresh/", {"refresh_token": refresh_token})

    def logout(self, refresh_token: str) -> Reply:
        return self.request("POST", "/auth/logout/", {"refresh_token": refresh_token})

    def me(self, access_token: str) -> Reply:
        return self.request("GET", "/api/me/", bearer=access_token)


def token_generation(refresh_token: str) -> tuple[str, int]:
    """A refresh token's family public id and generation: ``tkrt_<public_id>.<gen>.<mac>``
    (DESIGN §5), which lets the client check every rotation moved exactly one step."""
    public_id, generation, _mac = refresh_token.removeprefix("tkrt_").split(".")
    return public_id, int(generation)
