"""``database`` mode's precompiled lookup gives exactly what the ORM would, in one statement."""

from __future__ import annotations

import gc
import threading
import weakref
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tokenauth import family_lookup, service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(user: Any) -> RefreshTokenFamily:
    user.last_login = timezone.now() - timedelta(days=3)
    user.save(update_fields=["last_login"])
    service.issue_tokens(user=user)
    return RefreshTokenFamily.objects.get(user=user)


def test_the_user_is_the_one_the_orm_builds(family: RefreshTokenFamily) -> None:
    state, user = family_lookup.family_and_user(family.public_id)  # type: ignore[misc]

    from_orm = get_user_model().objects.get(pk=family.user_id)
    for field in get_user_model()._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(from_orm, field.attname), field.name
    assert timezone.is_aware(user.last_login)  # converters ran (SQLite returns text)
    assert user._state.adding is False and user._state.db == "default"
    assert state == family_lookup.FamilyState(None, family.password_fingerprint)


def test_a_revoked_family_reads_as_revoked(family: RefreshTokenFamily) -> None:
    service.revoke_family(family_public_id=family.public_id, reason=RevocationReason.ADMIN)

    state, _ = family_lookup.family_and_user(family.public_id)  # type: ignore[misc]

    assert state.revoked_at is not None


def test_the_statement_is_compiled_once_per_connection_and_runs_alone(
    family: RefreshTokenFamily,
) -> None:
    family_lookup.family_and_user(family.public_id)
    compiled = family_lookup._AUTHENTICATION.compiled_on(connections["default"])
    assert compiled is not None

    with CaptureQueriesContext(connections["default"]) as queries:
        family_lookup.family_and_user(family.public_id)

    assert family_lookup._AUTHENTICATION.compiled_on(connections["default"]) is compiled
    assert len(queries.captured_queries) == 1


@pytest.mark.parametrize(
    "public_id",
    ["", "nope", "' OR '1'='1", "\x00public_id\x00", "%s", "a" * 500, "é" * 22],
)
def test_an_unknown_or_hostile_public_id_finds_nothing(
    family: RefreshTokenFamily, public_id: str
) -> None:
    assert family_lookup.family_and_user(public_id) is None


def test_the_family_for_update_is_the_one_the_orm_builds_with_its_user_attached(
    family: RefreshTokenFamily,
) -> None:
    with transaction.atomic(), CaptureQueriesContext(connections["default"]) as queries:
        locked = family_lookup.family_for_update(family.public_id)
        assert locked is not None
        user_pk = locked.user.pk  # already loaded: no second statement

    assert len(queries.captured_queries) == 1
    for field in RefreshTokenFamily._meta.concrete_fields:
        assert getattr(locked, field.attname) == getattr(family, field.attname), field.name
    assert user_pk == family.user_id and locked._state.adding is False


@pytest.mark.django_db(transaction=True)  # no test-wide transaction around it
def test_family_for_update_refuses_to_run_outside_a_transaction(
    family: RefreshTokenFamily,
) -> None:
    if not connections["default"].features.has_select_for_update:
        pytest.skip("SQLite takes no row lock, so Django does not insist on a transaction")
    with pytest.raises(TransactionManagementError):
        family_lookup.family_for_update(family.public_id)


@pytest.mark.django_db(transaction=True)
def test_a_threads_connection_is_not_kept_alive_by_its_compiled_statement(
    family: RefreshTokenFamily,
) -> None:
    """Threaded and ASGI servers make a connection object per thread: none may leak."""
    seen: list[weakref.ref[Any]] = []

    def request_in_a_thread() -> None:
        assert family_lookup.family_and_user(family.public_id) is not None
        connection = connections["default"]
        assert family_lookup._AUTHENTICATION.compiled_on(connection) is not None
        seen.append(weakref.ref(connection))
        connection.close()

    thread = threading.Thread(target=request_in_a_thread)
    thread.start()
    thread.join()
    del thread
    gc.collect()

    assert seen and seen[0]() is None


def test_a_public_id_matches_byte_for_byte_only(family: RefreshTokenFamily) -> None:
    """MySQL's and MariaDB's default collations ignore case: the column must not."""
    swapped = family.public_id.swapcase()
    assert swapped != family.public_id

    assert family_lookup.family_and_user(swapped) is None
    with transaction.atomic():
        assert family_lookup.family_for_update(swapped) is None
    assert not RefreshTokenFamily.objects.filter(public_id=swapped).exists()
    assert family_lookup.family_and_user(family.public_id) is not None


def test_on_mysql_the_public_id_column_has_a_binary_collation() -> None:
    connection = connections["default"]
    if connection.vendor != "mysql":
        pytest.skip("PostgreSQL and SQLite compare text byte for byte by default")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collation_name FROM information_schema.columns"
            " WHERE table_schema = DATABASE() AND table_name = %s AND column_name = 'public_id'",
            [RefreshTokenFamily._meta.db_table],
        )
        (collation,) = cursor.fetchone()
    assert collation == "utf8mb4_bin"
