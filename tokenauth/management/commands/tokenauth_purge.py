"""``manage.py tokenauth_purge``: delete families that can never refresh again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokenauth import service


class Command(BaseCommand):
    help = "Delete expired refresh-token families, and revoked ones after --keep-revoked-days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="rows per DELETE")
        parser.add_argument(
            "--keep-revoked-days",
            type=int,
            default=7,
            help="keep revoked families (and their reuse records) this many days",
        )

    def handle(self, *args: Any, batch_size: int, keep_revoked_days: int, **options: Any) -> None:
        if batch_size < 1 or keep_revoked_days < 0:
            raise CommandError("--batch-size must be >= 1 and --keep-revoked-days >= 0")
        result = service.purge_expired(
            batch_size=batch_size, keep_revoked_for=timedelta(days=keep_revoked_days)
        )
        self.stdout.write(
            f"Deleted {result.expired} expired and {result.revoked} revoked families."
        )
