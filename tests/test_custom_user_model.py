"""tokenauth with a custom user model (email login, no is_active column), in its own process.

AUTH_USER_MODEL is fixed when Django starts, so the suite in ``tests/custom_user/`` runs in a
subprocess under ``tests.custom_user.settings``. Its files are named ``check_*.py`` so this
run does not collect them. The inner run names its PostgreSQL test database after its own
pid (tests/settings.py), so it never collides with this run's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_the_custom_user_model_suite_passes() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/custom_user",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "--ds=tests.custom_user.settings",
            "-o",
            "python_files=check_*.py",
        ],
        cwd=REPO_ROOT,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "tests.custom_user.settings"},
        capture_output=True,
        text=True,
        timeout=300,
    )

    output = result.stdout + result.stderr
    tail = "\n".join(output.splitlines()[-40:])
    assert result.returncode == 0, tail
    assert "no tests ran" not in output, tail
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None and int(passed.group(1)) >= 5, tail
    assert not re.search(r"\d+ (failed|error|skipped)", result.stdout), tail
