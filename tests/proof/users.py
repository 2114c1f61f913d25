"""Create the proof's users: ``python -m tests.proof.users NAME...`` (password below).

One PBKDF2 hash (Django's default hasher, as the example project deploys) is computed once
and shared, so creating dozens of users costs one hash, while every login still pays one.
"""

from __future__ import annotations

import os
import sys

PASSWORD = "proof-password-0123"


def main(usernames: list[str]) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.proof.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    password_hash = make_password(PASSWORD)
    user_model = get_user_model()
    user_model.objects.bulk_create(
        [user_model(username=name, password=password_hash) for name in usernames]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
