"""``manage.py tokenauth_revoke``: revoke the families of users, given families, or all of them
(reason ``command``), printing what it revoked."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokenauth import service
from tokenauth._refresh_tokens import is_public_id
from tokenauth.models import RevocationReason

_NOT_LIVE = "not live (unknown, expired or already revoked)"


class Command(BaseCommand):
    help = (
        "Revoke every family of the given users (--user), the given families (--family), or "
        "every family of every user (--all --yes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument(
            "--user", nargs="+", metavar="USERNAME", help="users by their USERNAME_FIELD value"
        )
        group.add_argument("--family", nargs="+", metavar="PUBLIC_ID", help="family public ids")
        group.add_argument("--all", action="store_true", help="every family of every user")
        parser.add_argument("--yes", action="store_true", help="confirm --all")

    def handle(
        self,
        *args: Any,
        user: list[str] | None,
        family: list[str] | None,
        all: bool,  # argparse names it after --all
        yes: bool,
        **options: Any,
    ) -> None:
        if yes and not all:
            raise CommandError("--yes confirms --all; --user and --family need no confirmation.")
        if all:
            if not yes:
                raise CommandError(
                    "--all revokes every session of every user: add --yes to confirm."
                )
            families, users = service.revoke_all_families(reason=RevocationReason.COMMAND)
            self.stdout.write(f"Revoked {_families(families)} of {users} users.")
            return
        total = self._revoke_users(user) if user else self._revoke_families(family or [])
        self.stdout.write(f"Revoked {_families(total)}.")

    def _revoke_users(self, usernames: list[str]) -> int:
        accounts = [_user(name) for name in usernames]  # every name checked before any revocation
        total = 0
        for name, account in zip(usernames, accounts, strict=True):
            count = service.revoke_user(user=account, reason=RevocationReason.COMMAND)
            self.stdout.write(f"{name}: {_families(count)} revoked")
            total += count
        return total

    def _revoke_families(self, public_ids: list[str]) -> int:
        total = 0
        for public_id in public_ids:
            revoked = service.revoke_family(
                family_public_id=public_id, reason=RevocationReason.COMMAND
            )
            # A well-formed id is printed as is; anything else quoted (a terminal escape, a NUL).
            shown = public_id if is_public_id(public_id) else repr(public_id)
            self.stdout.write(f"{shown}: {'revoked' if revoked else _NOT_LIVE}")
            total += revoked
        return total


def _user(username: str) -> AbstractBaseUser:
    user_model = get_user_model()
    try:
        # The base manager: a default manager that hides users (soft deletion) must not hide
        # them from the operator revoking their sessions.
        return user_model._base_manager.get(**{user_model.USERNAME_FIELD: username})
    except user_model.DoesNotExist:
        raise CommandError(f"No user {username!r}.") from None


def _families(count: int) -> str:
    return f"{count} {'family' if count == 1 else 'families'}"
