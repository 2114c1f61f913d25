"""Sustained mixed load: virtual users, each following its own token chain serially.

A virtual user logs in, then loops: an API call with its access token, a refresh every few
calls, and now and then a logout followed by a new login. It counts the refreshes of every
family it starts, so the database can be checked against it afterwards, and records each
request's operation, status and latency.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.proof.client import ProofClient, Reply, token_generation

OPERATIONS = ("login", "refresh", "api", "logout")
EXPECTED = {"login": 200, "refresh": 200, "api": 200, "logout": 204}


@dataclass
class FamilyTrack:
    """One login as the client saw it: how often it refreshed, whether it logged out."""

    public_id: str
    refreshes: int = 0
    logged_out: bool = False


@dataclass
class Recorder:
    """Every request's operation, status and latency; shared by the virtual users."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)

    def record(self, operation: str, reply: Reply) -> bool:
        """Record; True when the status is what a working server answers."""
        ok = reply.status == EXPECTED[operation]
        with self.lock:
            self.latencies[operation].append(reply.seconds)
            self.statuses[operation][reply.status] += 1
            if not ok:
                self.failures.append(f"{operation}: {reply.describe()}")
        return ok

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)


@dataclass
class VirtualUser:
    username: str
    password: str
    client: ProofClient
    recorder: Recorder
    rng: random.Random
    refresh_every: int
    relogin_after: tuple[float, float]  # seconds, drawn uniformly for each family
    families: list[FamilyTrack] = field(default_factory=list)
    _access_token: str = field(default="", repr=False)
    _refresh_token: str = field(default="", repr=False)

    def run(self, start_at: float, deadline: float) -> None:
        time.sleep(max(0.0, start_at - time.monotonic()))
        try:
            self._loop(deadline)
        except Exception as exc:  # a refused connection, a timeout: the test reports it
            self.recorder.fail(f"{self.username}: {exc!r}")

    def _loop(self, deadline: float) -> None:
        if not self._login():
            return
        relogin_at = time.monotonic() + self.rng.uniform(*self.relogin_after)
        calls = 0
        while time.monotonic() < deadline:
            self.recorder.record("api", self.client.me(self._access_token))
            calls += 1
            if calls % self.refresh_every == 0 and not self._refresh():
                return  # the chain is broken: nothing after this would mean anything
            if time.monotonic() >= relogin_at:
                if not self._logout() or not self._login():
                    return
                relogin_at = time.monotonic() + self.rng.uniform(*self.relogin_after)

    def _login(self) -> bool:
        reply = self.client.login(self.username, self.password)
        if not self.recorder.record("login", reply):
            return False
        self._take(reply)
        self.families.append(FamilyTrack(token_generation(self._refresh_token)[0]))
        return True

    def _refresh(self) -> bool:
        family = self.families[-1]
        reply = self.client.refresh(self._refresh_token)
        if not self.recorder.record("refresh", reply):
            return False
        self._take(reply)
        family.refreshes += 1
        got = token_generation(self._refresh_token)
        if got != (family.public_id, family.refreshes):  # one chain, one step per refresh
            self.recorder.fail(f"{self.username}: refresh returned {got}, expected one step")
            return False
        return True

    def _logout(self) -> bool:
        if not self.recorder.record("logout", self.client.logout(self._refresh_token)):
            return False
        self.families[-1].logged_out = True
        return True

    def _take(self, reply: Reply) -> None:
        body = reply.json()
        self._access_token, self._refresh_token = body["access_token"], body["refresh_token"]


@dataclass(frozen=True)
class LoadResult:
    seconds: float
    users: list[VirtualUser]
    recorder: Recorder

    @property
    def requests(self) -> int:
        return sum(len(samples) for samples in self.recorder.latencies.values())

    @property
    def server_errors(self) -> int:
        """How many answers were 5xx, whatever the operation."""
        counters = self.recorder.statuses.values()
        return sum(n for counter in counters for status, n in counter.items() if status >= 500)

    def report(self, **setup: object) -> dict[str, Any]:
        """The figures, JSON-ready: throughput, latency percentiles per operation, counts."""
        families = [f for user in self.users for f in user.families]
        return {
            "setup": setup,
            "duration_seconds": round(self.seconds, 1),
            "requests": self.requests,
            "throughput_rps": round(self.requests / self.seconds, 1),
            "operations": {
                op: _summary(self.recorder.latencies[op], self.recorder.statuses[op])
                for op in OPERATIONS
                if self.recorder.latencies.get(op)
            },
            "families_started": len(families),
            "families_logged_out": sum(f.logged_out for f in families),
            "refreshes": sum(f.refreshes for f in families),
            "server_errors": self.server_errors,
            "failures": len(self.recorder.failures),
        }


def run_load(
    client: ProofClient,
    usernames: list[str],
    password: str,
    seconds: float,
    *,
    refresh_every: int = 4,
    relogin_after: tuple[float, float] = (15.0, 45.0),
    ramp_up: float = 0.0,
    seed: int = 0,
) -> LoadResult:
    """One thread per user, starting evenly over ``ramp_up`` seconds (users do not all log in
    in the same millisecond), all stopping at the same deadline (a login or refresh already
    started still finishes, so its count stays right)."""
    recorder = Recorder()
    users = [
        VirtualUser(
            name,
            password,
            client,
            recorder,
            random.Random(seed + i),  # when to log out again, not a secret
            refresh_every,
            relogin_after,
        )
        for i, name in enumerate(usernames)
    ]
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(
            target=user.run, args=(started + ramp_up * i / len(users), deadline), daemon=True
        )
        for i, user in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    if any(thread.is_alive() for thread in threads):
        recorder.fail("a virtual user was still running two minutes after the deadline")
    return LoadResult(time.monotonic() - started, users, recorder)


def _summary(latencies: list[float], statuses: Counter[int]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "p50_ms": round(_percentile(ordered, 50) * 1000, 1),
        "p99_ms": round(_percentile(ordered, 99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
    }


def _percentile(ordered: list[float], percent: float) -> float:
    """Nearest rank: the smallest sample with at least ``percent`` % of samples at or below."""
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def format_report(report: dict[str, Any]) -> str:
    """The report as a few aligned lines for the terminal."""
    lines = [
        f"tokenauth multi-process load: {report['requests']} requests in "
        f"{report['duration_seconds']} s = {report['throughput_rps']} req/s "
        f"({', '.join(f'{k}={v}' for k, v in report['setup'].items())})",
        f"{'operation':<10}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}  statuses",
    ]
    for op, s in report["operations"].items():
        lines.append(
            f"{op:<10}{s['count']:>8}{s['p50_ms']:>10}{s['p99_ms']:>10}{s['max_ms']:>10}  "
            f"{s['statuses']}"
        )
    lines.append(
        f"families started {report['families_started']}, logged out "
        f"{report['families_logged_out']}, refreshes {report['refreshes']}, "
        f"5xx {report['server_errors']}, failures {report['failures']}"
    )
    return "\n".join(lines)
