"""Fault injection: kill the database's connections while clients loop and count what they see.

The clients keep their own counters (no shared state between threads), and check each answer
the way a careful client would: a refresh that succeeds moved its family exactly one step, a
503 is the contract's ``temporarily_unavailable`` with a ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tests.proof.client import ProofClient, Reply, token_generation
from tests.proof.database import connect, terminate_backends


def unavailable_problem(reply: Reply) -> str:
    """What is wrong with a 503 by DESIGN §3 (``{"error": "temporarily_unavailable"}`` and a
    positive integer ``Retry-After``); ``""`` when nothing is."""
    try:
        error = reply.json().get("error")
        retry_after = int(reply.headers.get("retry-after", "0"))
    except ValueError:
        return f"not JSON, or a bad Retry-After: {reply.describe()}"
    if error != "temporarily_unavailable" or retry_after <= 0:
        return f"error {error!r}, Retry-After {retry_after}: {reply.describe()}"
    return ""


@dataclass
class Refresher:
    """Refreshes its own family in a loop, keeping the token it holds across 503s."""

    client: ProofClient
    refresh_token: str
    seen: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def refresh_once(self) -> Reply:
        """Present the held token. A 200 must be the next generation of the same family; on a
        503 the token is kept for the retry (that rotation may or may not have committed: if it
        did, the retry is a grace replay and gets the same successor)."""
        presented = token_generation(self.refresh_token)
        reply = self.client.refresh(self.refresh_token)
        self.seen[reply.status] += 1
        if reply.status == 200:
            self.refresh_token = reply.json()["refresh_token"]
            successor = token_generation(self.refresh_token)
            if successor != (presented[0], presented[1] + 1):
                self.problems.append(f"{presented} -> {successor}: not one step")
        elif reply.status == 503:
            if problem := unavailable_problem(reply):
                self.problems.append(problem)
        else:
            self.problems.append(reply.describe())
        return reply

    def loop(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.refresh_once()


@dataclass
class ApiCaller:
    """Calls the protected API in a loop with one access token."""

    client: ProofClient
    access_token: str
    allowed: frozenset[int] = frozenset({200, 401, 503})  # DESIGN §3: "401 or 503"
    seen: Counter[int] = field(default_factory=Counter)
    odd: list[str] = field(default_factory=list)  # any answer outside ``allowed``

    def loop(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            reply = self.client.me(self.access_token)
            self.seen[reply.status] += 1
            if reply.status not in self.allowed:
                self.odd.append(reply.describe())


def run_for(seconds: float, loops: Sequence[Callable[[float], None]]) -> None:
    """Each ``loop(deadline)`` in its own thread, all ending ``seconds`` from now."""
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=loop, args=(deadline,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a client was still running a minute after its deadline")


def total(counters: Sequence[Counter[int]]) -> dict[int, int]:
    return dict(sum(counters, Counter()))


@contextlib.contextmanager
def database_connections_killed(admin_url: str, name: str) -> Iterator[list[int]]:
    """Terminate every backend of database ``name`` every 20-100 ms until the block ends;
    yields the count killed each time. ``admin_url`` is any other database of the server."""
    stop = threading.Event()
    kills: list[int] = []

    def kill() -> None:
        rng = random.Random(0)  # a cadence, not a secret
        with contextlib.closing(connect(admin_url)) as connection:
            while not stop.wait(rng.uniform(0.02, 0.1)):
                kills.append(terminate_backends(connection, name, admin_url))

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    try:
        yield kills
    finally:
        stop.set()
        killer.join(timeout=30)
