"""``manage.py tokenauth_purge``: delete families that can never refresh again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from tokenauth import service

MAX_BATCH_SIZE = 1_000_000  # one transaction of more rows is what the batches are there to avoid


class Command(BaseCommand):
    help = (
        "Delete expired refresh-token families, and revoked ones after --keep-revoked-days, "
        "in primary-key-range batches (a progress line per batch on stderr)."
    )
    # No system checks: the purge reads no setting, a warning repeated in every cron mail
    # teaches operators to skip them (``check --deploy`` belongs in the release pipeline),
    # and loading every URLconf and view for them costs start-up time and memory.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=10_000,
            help="families per primary-key range, each range its own transaction (default 10000)",
        )
        parser.add_argument(
            "--keep-revoked-days",
            type=int,
            default=7,
            help="keep revoked families (and their reuse records) this many days (default 7)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print how many families would be deleted; delete nothing",
        )

    def handle(
        self,
        *args: Any,
        batch_size: int,
        keep_revoked_days: int,
        dry_run: bool,
        verbosity: int,
        **options: Any,
    ) -> None:
        keep_revoked_for = _keep_revoked_for(keep_revoked_days)
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}")
        if dry_run:
            result = service.purge_expired(keep_revoked_for=keep_revoked_for, dry_run=True)
            self.stdout.write(
                f"Would delete {result.expired} expired and {result.revoked} revoked families "
                "(dry run: nothing was deleted)."
            )
            return
        progress: list[service.PurgeBatch] = []

        def report(batch: service.PurgeBatch) -> None:
            progress.append(batch)
            if verbosity >= 1:
                self.stderr.write(_progress_line(batch), style_func=_plain)

        try:
            result = service.purge_expired(
                batch_size=batch_size, keep_revoked_for=keep_revoked_for, on_batch=report
            )
        except DatabaseError as exc:
            done = progress[-1].total if progress else service.PurgeResult(expired=0, revoked=0)
            raise CommandError(
                f"Stopped by a database error after {len(progress)} committed batches "
                f"({done.expired} expired and {done.revoked} revoked families deleted; "
                f"run it again to go on): {exc}"
            ) from exc
        self.stdout.write(
            f"Deleted {result.expired} expired and {result.revoked} revoked families."
        )


def _keep_revoked_for(days: int) -> timedelta:
    if days < 0:
        raise CommandError("--keep-revoked-days must be 0 or more")
    try:
        keep = timedelta(days=days)
        timezone.now() - keep  # the cutoff must be a date
    except OverflowError:
        raise CommandError(f"--keep-revoked-days {days} reaches back before year 1") from None
    return keep


def _progress_line(batch: service.PurgeBatch) -> str:
    return (
        f"batch {batch.number}: ids up to {batch.last_id} of {batch.max_id}: deleted "
        f"{batch.expired} expired and {batch.revoked} revoked families "
        f"({batch.total.expired} and {batch.total.revoked} so far)"
    )


def _plain(text: str) -> str:
    """Progress is no error: stderr's default style would colour it red on a terminal."""
    return text
