"""App configuration: system checks, the model _receivers, and the OpenAPI extensions."""

from __future__ import annotations

import importlib.util

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_save


class TokenAuthConfig(AppConfig):
    name = "tokenauth"
    verbose_name = "Token authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tokenauth import _receivers, checks

        checks.register()
        user_model = settings.AUTH_USER_MODEL
        pre_save.connect(
            _receivers.remember_changes, sender=user_model, dispatch_uid="tokenauth_pre"
        )
        post_save.connect(
            _receivers.apply_changes, sender=user_model, dispatch_uid="tokenauth_post"
        )
        # A family receiver turns off Django's fast delete for families: purge_expired deletes
        # with _raw_delete() so that a batch still costs one DELETE per condition.
        post_delete.connect(
            _receivers.mark_deleted_family,
            sender="tokenauth.RefreshTokenFamily",
            dispatch_uid="tokenauth_family_deleted",
        )
        # drf-spectacular finds extensions by their import (as it imports its own contrib
        # modules); nothing of it is imported when it is not installed.
        if importlib.util.find_spec("drf_spectacular") is not None:
            import tokenauth.contrib.openapi  # noqa: F401
