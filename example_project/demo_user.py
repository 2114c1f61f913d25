"""Create (or reset) the demo user: ``python -m example_project.demo_user``."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

user, _ = get_user_model().objects.get_or_create(username="demo")
user.set_password("demo-password")
user.save()
print("demo user: demo / demo-password")
