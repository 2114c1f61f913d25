"""A Node script run beside its own ``node_modules``, installed from npm into a directory of
this test run: an ES module resolves ``import "pkg"`` from its own directory upwards."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def install_beside(directory: Path, script: Path, package: str) -> Path:
    """``package`` (``name@version``) installed into ``directory``, ``script`` copied there;
    the test skips, with the reason, where node or npm is missing or npm cannot install."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"{package} needs node and npm on PATH (neither is a Python package)")
    (directory / "package.json").write_text('{"private": true}\n')
    install = subprocess.run(  # noqa: S603  # the machine's npm, our arguments
        [npm, "install", "--no-audit", "--no-fund", "--no-package-lock", package],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if install.returncode != 0:
        tail = (install.stderr or install.stdout).strip().splitlines()[-3:]
        pytest.skip(f"npm could not install {package} (no registry?): {' '.join(tail)}")
    shutil.copy(script, directory)
    return directory / script.name
