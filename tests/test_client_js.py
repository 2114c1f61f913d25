"""The browser client's own logic (tests/js/*.test.mjs) under node's test runner."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")


def _node_major() -> int:
    if NODE is None:
        return 0
    version = subprocess.run(  # noqa: S603  # the machine's node, our arguments
        [NODE, "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.match(r"v(\d+)", version)
    return int(match.group(1)) if match else 0


@pytest.mark.skipif(_node_major() < 20, reason="needs Node.js 20+ (node --test, fetch, Request)")
def test_the_client_unit_tests_pass() -> None:
    completed = subprocess.run(  # noqa: S603  # the machine's node, our test files
        [str(NODE), "--test", "tests/js/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)$", completed.stdout, re.M)
    assert passed and int(passed.group(1)) >= 40, completed.stdout[-1000:]
    assert re.search(r"^# fail 0$", completed.stdout, re.M)
