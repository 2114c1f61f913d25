"""``manage.py tokenauth_revoke``: revoke families by user or by public id (reason ``command``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokenauth import service
from tokenauth.models import RevocationReason


class Command(BaseCommand):
    help = "Revoke every family of a user (--user), or the given families (--family)."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--user", help="the user's USERNAME_FIELD value (e.g. username)")
        group.add_argument("--family", nargs="+", metavar="PUBLIC_ID", help="family public ids")

    def handle(
        self, *args: Any, user: str | None, family: list[str] | None, **options: Any
    ) -> None:
        if user is not None:
            user_model = get_user_model()
            try:
                # The base manager: a default manager that hides users (soft deletion) must
                # not hide them from the operator revoking their sessions.
                account = user_model._base_manager.get(**{user_model.USERNAME_FIELD: user})
            except user_model.DoesNotExist:
                raise CommandError(f"No user {user!r}.") from None
            count = service.revoke_user(user=account, reason=RevocationReason.COMMAND)
        else:
            count = service.revoke_families(
                family_public_ids=family or [], reason=RevocationReason.COMMAND
            )
        self.stdout.write(f"Revoked {count} families.")
