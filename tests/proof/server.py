"""The example project under gunicorn (sync workers), started and stopped by the proof."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from tests.proof.client import ProofClient
from tests.proof.database import PROJECT_ROOT, SETTINGS_MODULE

WORKERS = 4
# What a 500 leaves in the log: Django's request logger, or gunicorn's own when the app raises.
ERROR_MARKERS = ("Internal Server Error", "Error handling request", "Traceback")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _no_control_socket() -> list[str]:
    """Recent gunicorn opens a control socket at one fixed path per user: several servers at
    once (ours, a benchmark's) would take it from each other. Older versions have none."""
    from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]  # no stubs

    known = {setting.name for setting in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in known else []


class Gunicorn:
    """``gunicorn tests.proof.wsgi:application -w 4`` on a free 127.0.0.1 port; its
    stdout and stderr go to a log file the tests read."""

    def __init__(self, env: Mapping[str, str], *, workers: int = WORKERS) -> None:
        self.workers = workers
        self.port = free_port()
        descriptor, path = tempfile.mkstemp(prefix="tokenauth-proof-", suffix=".log")
        os.close(descriptor)
        self.log_path = Path(path)
        command = [
            *(sys.executable, "-m", "gunicorn", "tests.proof.wsgi:application"),
            *("--workers", str(workers), "--bind", f"127.0.0.1:{self.port}"),
            *("--timeout", "60", "--graceful-timeout", "5", "--backlog", "2048"),
            *_no_control_socket(),
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603  # our own interpreter and arguments
                command,
                cwd=PROJECT_ROOT,
                env={**env, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.client = ProofClient("127.0.0.1", self.port)

    def wait_until_serving(self, timeout: float = 60) -> None:
        """Return once a worker answers ``GET /``; fail with the log if gunicorn dies first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            with contextlib.suppress(OSError):  # not listening yet
                if self.client.request("GET", "/").status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{self.tail()}")

    def log_mark(self) -> int:
        """Where the log ends now: ``log(since=...)`` reads only what a test caused."""
        return self.log_path.stat().st_size

    def log(self, since: int = 0) -> str:
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def errors_in_log(self, since: int = 0) -> list[str]:
        """Log lines that only a 500 (or a crash) writes."""
        lines = self.log(since).splitlines()
        return [line for line in lines if any(marker in line for marker in ERROR_MARKERS)]

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL if it lingers; our own child only."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if os.environ.get("TOKENAUTH_PROOF_KEEP_LOGS") != "1":
            self.log_path.unlink(missing_ok=True)
