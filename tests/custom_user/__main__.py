"""Run the custom-user suite once per user model, each in its own pytest process (``make test``
runs this after the main suite): ``python -m tests.custom_user [pytest options]``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULES = (
    "tests.custom_user.email_user.settings",
    "tests.custom_user.uuid_user.settings",
    "tests.custom_user.mti_user.settings",
)


def main(pytest_options: list[str]) -> int:
    failed = []
    for module in SETTINGS_MODULES:
        print(f"== the custom-user suite under {module}", flush=True)
        command = [sys.executable, "-m", "pytest", "tests/custom_user", f"--ds={module}"]
        if subprocess.call([*command, *pytest_options], cwd=REPO_ROOT) != 0:  # noqa: S603
            failed.append(module)
    if failed:
        print(f"the custom-user suite failed under {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
