"""Migrations match the models: ``makemigrations --check --dry-run`` finds nothing to write."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

import tokenauth


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    out = StringIO()

    try:
        call_command("makemigrations", "tokenauth", "--check", "--dry-run", stdout=out)
    except SystemExit as exc:  # --check exits 1 when a migration is missing
        pytest.fail(f"missing migration (exit {exc.code}):\n{out.getvalue()}")

    assert "No changes detected" in out.getvalue()


def test_one_initial_migration_until_the_first_release() -> None:
    migrations = Path(tokenauth.__file__).parent / "migrations"

    assert sorted(path.name for path in migrations.glob("[0-9]*.py")) == ["0001_initial.py"]
