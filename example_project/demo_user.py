"""The demo user: ``python -m example_project.demo_user [URL]`` creates (or resets) it and
prints where to open the demo, with the credentials to type."""

from __future__ import annotations

import os
import sys

USERNAME = "demo"
PASSWORD = "demo-password"
DEFAULT_URL = "http://127.0.0.1:8000/"


def main(argv: list[str]) -> None:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    user.set_password(PASSWORD)
    user.save()
    url = argv[0] if argv else DEFAULT_URL
    print(f"Open {url} (user {USERNAME} / password {PASSWORD})")


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    django.setup()
    main(sys.argv[1:])
