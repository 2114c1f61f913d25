"""``database`` mode's precompiled lookup gives exactly what the ORM would, in one statement."""

from __future__ import annotations

import functools
import gc
import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connections, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests import test_query_budgets as budgets
from tokenauth import _family_lookup, service
from tokenauth.models import RefreshTokenFamily, RevocationReason

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(user: Any) -> RefreshTokenFamily:
    user.last_login = timezone.now() - timedelta(days=3)
    user.save(update_fields=["last_login"])
    service.issue_tokens(user=user)
    return RefreshTokenFamily.objects.get(user=user)


def test_the_user_is_the_one_the_orm_builds(family: RefreshTokenFamily) -> None:
    state, user = _family_lookup.family_and_user(family.public_id)  # type: ignore[misc]

    from_orm = get_user_model().objects.get(pk=family.user_id)
    for field in get_user_model()._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(from_orm, field.attname), field.name
    assert timezone.is_aware(user.last_login)  # converters ran (SQLite returns text)
    assert user._state.adding is False and user._state.db == "default"
    assert state == _family_lookup.FamilyState(None, family.password_version)


def test_a_revoked_family_reads_as_revoked(family: RefreshTokenFamily) -> None:
    service.revoke_family(family_public_id=family.public_id, reason=RevocationReason.ADMIN)

    state, _ = _family_lookup.family_and_user(family.public_id)  # type: ignore[misc]

    assert state.revoked_at is not None


def test_the_statement_is_compiled_once_per_connection_and_runs_alone(
    family: RefreshTokenFamily,
) -> None:
    _family_lookup.family_and_user(family.public_id)
    user_model = get_user_model()
    compiled = _family_lookup._AUTHENTICATION.compiled_on(connections["default"], user_model)
    assert compiled is not None

    with CaptureQueriesContext(connections["default"]) as queries:
        _family_lookup.family_and_user(family.public_id)

    assert (
        _family_lookup._AUTHENTICATION.compiled_on(connections["default"], user_model) is compiled
    )
    assert len(queries.captured_queries) == 1


@pytest.mark.parametrize(
    "public_id",
    [
        "",
        "nope",
        "' OR '1'='1",
        "\x00public_id\x00",
        _family_lookup._PLACEHOLDER,
        "%s",
        "a" * 500,
        "é" * 22,
    ],
)
def test_an_unknown_or_hostile_public_id_finds_nothing(
    family: RefreshTokenFamily, public_id: str
) -> None:
    assert _family_lookup.family_and_user(public_id) is None


def test_the_family_for_update_is_the_one_the_orm_builds_with_its_user_attached(
    family: RefreshTokenFamily,
) -> None:
    with transaction.atomic(), CaptureQueriesContext(connections["default"]) as queries:
        locked = _family_lookup.family_for_update(family.public_id)
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
        _family_lookup.family_for_update(family.public_id)


@pytest.mark.django_db(transaction=True)
def test_a_threads_connection_is_not_kept_alive_by_its_compiled_statement(
    family: RefreshTokenFamily,
) -> None:
    """Threaded and ASGI servers make a connection object per thread: none may leak."""
    seen: list[weakref.ref[Any]] = []

    def request_in_a_thread() -> None:
        assert _family_lookup.family_and_user(family.public_id) is not None
        connection = connections["default"]
        assert _family_lookup._AUTHENTICATION.compiled_on(connection, get_user_model()) is not None
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

    assert _family_lookup.family_and_user(swapped) is None
    with transaction.atomic():
        assert _family_lookup.family_for_update(swapped) is None
    assert not RefreshTokenFamily.objects.filter(public_id=swapped).exists()
    assert _family_lookup.family_and_user(family.public_id) is not None


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


# The compiled statements' cache: by kind and user model.


def test_a_statement_compiled_for_another_user_model_is_never_reused(
    family: RefreshTokenFamily,
) -> None:
    """A test run that swaps AUTH_USER_MODEL meets the other model's statements: never used."""
    connection = connections["default"]
    cache = _family_lookup._cache_of(connection)
    cache.clear()
    for statement in (_family_lookup._AUTHENTICATION, _family_lookup._ROTATION):
        cache[(statement.kind, "email_user.EmailUser")] = _another_models_statement()

    state, user = _family_lookup.family_and_user(family.public_id)  # type: ignore[misc]
    with transaction.atomic():
        locked = _family_lookup.family_for_update(family.public_id)

    assert user.pk == family.user_id and state.password_version == family.password_version
    assert locked is not None and locked.user.pk == family.user_id
    label = get_user_model()._meta.label
    assert set(cache) == {
        (kind, model)
        for kind in ("authentication", "rotation")
        for model in (label, "email_user.EmailUser")
    }
    for statement in (_family_lookup._AUTHENTICATION, _family_lookup._ROTATION):
        compiled = statement.compiled_on(connection, get_user_model())
        assert compiled is not None and compiled.user_model is get_user_model()
        assert cache[(statement.kind, "email_user.EmailUser")].sql == "SELECT 'never run'"  # type: ignore[union-attr]


def _another_models_statement() -> _family_lookup._Compiled:
    """What a statement compiled for another user model looks like: unusable for this one."""
    compiler = RefreshTokenFamily.objects.none().query.get_compiler("default")
    return _family_lookup._Compiled("SELECT 'never run'", 1, compiler, get_user_model(), ("id",))


def test_the_cache_lives_on_the_connection_and_holds_one_statement_per_kind_and_model(
    family: RefreshTokenFamily,
) -> None:
    connection = connections["default"]
    _family_lookup._cache_of(connection).clear()

    for _ in range(3):
        _family_lookup.family_and_user(family.public_id)
        with transaction.atomic():
            _family_lookup.family_for_update(family.public_id)

    label = get_user_model()._meta.label
    assert set(_family_lookup._cache_of(connection)) == {
        ("authentication", label),
        ("rotation", label),
    }


# When Django's compiler internals change shape: the ORM path, one WARNING.


@pytest.fixture
def fresh_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Nothing compiled yet on this connection, no warning logged yet in this process; and
    whatever a test broke is forgotten after it (the next test compiles again)."""
    monkeypatch.setattr(_family_lookup, "_warned", threading.Lock())
    _family_lookup._cache_of(connections["default"]).clear()
    yield
    _family_lookup._cache_of(connections["default"]).clear()


def _compile_raises(real: Any) -> Any:
    def as_sql(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        sql, params = real(self, *args, **kwargs)
        if _family_lookup._PLACEHOLDER in params:  # ours only: the ORM path's compiles stay real
            raise AttributeError("'Query' object has no attribute 'renamed_in_django_7'")
        return sql, params

    return as_sql


def _two_placeholders(real: Any) -> Any:
    def as_sql(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        sql, params = real(self, *args, **kwargs)
        if _family_lookup._PLACEHOLDER in params:
            return f"{sql} AND %s = %s", (*params, _family_lookup._PLACEHOLDER)
        return sql, params

    return as_sql


def _one_more_parameter(real: Any) -> Any:
    def as_sql(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        sql, params = real(self, *args, **kwargs)
        if _family_lookup._PLACEHOLDER in params:
            return sql.replace("LIMIT 1", "LIMIT %s"), (*params, 1)
        return sql, params

    return as_sql


def _no_parameter(real: Any) -> Any:
    def as_sql(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        sql, params = real(self, *args, **kwargs)
        if _family_lookup._PLACEHOLDER in params:
            return sql.replace("%s", "'inlined'"), ()
        return sql, params

    return as_sql


COMPILE_FAULTS = [
    pytest.param(_compile_raises, id="compiling-raises"),
    pytest.param(_two_placeholders, id="two-placeholders"),
    pytest.param(_one_more_parameter, id="another-parameter"),
    pytest.param(_no_parameter, id="no-parameter"),
]


def test_this_django_runs_both_compiled_statements_without_a_warning(
    family: RefreshTokenFamily, fresh_statements: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The early warning of tox's djangonext env: a Django that would send every lookup down
    the slower ORM path fails here, though every other test passes on that path."""
    with caplog.at_level(logging.WARNING, logger="tokenauth"):
        assert _family_lookup.family_and_user(family.public_id) is not None
        with transaction.atomic():
            assert _family_lookup.family_for_update(family.public_id) is not None

    assert _warnings(caplog) == []
    for statement in (_family_lookup._AUTHENTICATION, _family_lookup._ROTATION):
        assert statement.compiled_on(connections["default"], get_user_model()) is not None


@pytest.fixture(params=COMPILE_FAULTS)
def compile_fault(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, fresh_statements: None
) -> None:
    """Fault injection into Django's compiler, for our two statements only."""
    monkeypatch.setattr(SQLCompiler, "as_sql", request.param(SQLCompiler.as_sql))


def _ours(compiler: SQLCompiler) -> bool:
    """One of the compiled statements' compilers (the ORM path's must keep working)."""
    cached = _family_lookup._cache_of(connections["default"]).values()
    return any(compiled is not None and compiled.compiler is compiler for compiled in cached)


def _results_iter_raises(real: Any) -> Any:
    def results_iter(self: SQLCompiler, results: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _ours(self):
            raise TypeError("results_iter() got an unexpected keyword argument 'results'")
        return real(self, results, *args, **kwargs)

    return results_iter


def _results_iter_runs_the_query_itself(real: Any) -> Any:
    def results_iter(self: SQLCompiler, results: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _ours(self):
            return real(self, None, *args, **kwargs)  # with the placeholder bound: no row
        return real(self, results, *args, **kwargs)

    return results_iter


def _results_iter_drops_a_column(real: Any) -> Any:
    def results_iter(self: SQLCompiler, results: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _ours(self):
            return (row[1:] for row in real(self, results, *args, **kwargs))
        return real(self, results, *args, **kwargs)

    return results_iter


@pytest.fixture(
    params=[
        pytest.param(_results_iter_raises, id="raises"),
        pytest.param(_results_iter_runs_the_query_itself, id="runs-the-query-itself"),
        pytest.param(_results_iter_drops_a_column, id="drops-a-column"),
    ]
)
def results_iter_fault(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, fresh_statements: None
) -> None:
    monkeypatch.setattr(SQLCompiler, "results_iter", request.param(SQLCompiler.results_iter))


def _what_the_lookups_give(public_id: str) -> tuple[Any, ...]:
    """Every value a caller can see: the state, the user's fields, the family's fields."""
    state, user = _family_lookup.family_and_user(public_id)  # type: ignore[misc]
    with transaction.atomic():
        locked = _family_lookup.family_for_update(public_id)
        assert locked is not None
        with CaptureQueriesContext(connections["default"]) as queries:
            locked_user = locked.user  # read with the family: no statement
        assert queries.captured_queries == []
    return (
        state,
        _fields(user),
        user._state.db,
        user._state.adding,
        _fields(locked),
        locked._state.db,
        locked._state.adding,
        _fields(locked_user),
    )


def _fields(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "tokenauth._family_lookup" and r.levelno >= logging.WARNING
    ]


def _fast_path_gives(family: RefreshTokenFamily) -> tuple[Any, ...]:
    expected = _what_the_lookups_give(family.public_id)
    _family_lookup._cache_of(connections["default"]).clear()
    return expected


@pytest.fixture
def from_the_fast_path(family: RefreshTokenFamily, fresh_statements: None) -> tuple[Any, ...]:
    return _fast_path_gives(family)


def test_a_changed_compiler_falls_back_to_the_orm_with_the_same_results_and_one_warning(
    from_the_fast_path: tuple[Any, ...],
    compile_fault: None,
    family: RefreshTokenFamily,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="tokenauth"):
        for _ in range(3):
            with CaptureQueriesContext(connections["default"]) as queries:
                found = _what_the_lookups_give(family.public_id)
            assert found == from_the_fast_path
            rows = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
            assert len(rows) == 2, rows  # one statement per lookup, as compiled
            assert ("FOR UPDATE" in rows[1]) == connections[
                "default"
            ].features.has_select_for_update_of
        assert _family_lookup.family_and_user("nope") is None
        assert _family_lookup.family_and_user(family.public_id.swapcase()) is None

    (warning,) = _warnings(caplog)
    assert "ORM path" in warning.getMessage()
    assert family.public_id not in warning.getMessage()
    for statement in (_family_lookup._AUTHENTICATION, _family_lookup._ROTATION):
        assert statement.compiled_on(connections["default"], get_user_model()) is None


def test_a_changed_results_iter_falls_back_to_the_orm_with_the_same_results_and_one_warning(
    from_the_fast_path: tuple[Any, ...],
    results_iter_fault: None,
    family: RefreshTokenFamily,
    caplog: pytest.LogCaptureFixture,
) -> None:
    counts = []
    with caplog.at_level(logging.WARNING, logger="tokenauth"):
        for _ in range(3):
            with CaptureQueriesContext(connections["default"]) as queries:
                assert _what_the_lookups_give(family.public_id) == from_the_fast_path
            counts.append(sum(q["sql"].startswith("SELECT") for q in queries.captured_queries))

    # The first time, each lookup's compiled statement ran before its rows proved unusable
    # (and the fault that runs the query itself ran two more); then one statement per lookup.
    assert counts[0] >= 4 and counts[1:] == [2, 2], counts
    assert len(_warnings(caplog)) == 1


@pytest.mark.parametrize(
    "budget",
    [
        budgets.test_refresh_is_two_statements_and_a_grace_replay_one,
        budgets.test_reuse_is_two_statements_and_a_forged_token_one,
        budgets.test_logout_is_two_statements,
        functools.partial(budgets.test_an_authenticated_request_costs, mode="database", expected=1),
    ],
    ids=["refresh", "reuse", "logout", "database-mode-request"],
)
def test_the_query_budgets_hold_on_the_orm_path(
    request: pytest.FixtureRequest, compile_fault: None, budget: Callable[..., None]
) -> None:
    """tests/test_query_budgets.py's own assertions, with the compiled statements unusable."""
    wanted = [p for p in inspect.signature(budget).parameters.values() if p.default is p.empty]
    budget(**{p.name: request.getfixturevalue(p.name) for p in wanted})

    assert (
        _family_lookup._AUTHENTICATION.compiled_on(connections["default"], get_user_model()) is None
    )
    assert _family_lookup._ROTATION.compiled_on(connections["default"], get_user_model()) is None


def test_a_database_error_while_compiling_is_raised_not_taken_for_a_changed_django(
    family: RefreshTokenFamily,
    fresh_statements: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lost database stays the caller's 503, and the next request compiles again."""

    def as_sql(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patched:
        patched.setattr(SQLCompiler, "as_sql", as_sql)
        with pytest.raises(OperationalError):
            _family_lookup.family_and_user(family.public_id)

    assert _warnings(caplog) == []
    assert _family_lookup.family_and_user(family.public_id) is not None
    assert _family_lookup._AUTHENTICATION.compiled_on(connections["default"], get_user_model())


# The user model's base manager, whatever its default manager hides.


@pytest.mark.parametrize("orm_path", [False, True], ids=["compiled", "orm-path"])
def test_users_are_read_past_a_default_manager_that_hides_them(
    family: RefreshTokenFamily,
    fresh_statements: None,
    monkeypatch: pytest.MonkeyPatch,
    hidden_users: None,
    orm_path: bool,
) -> None:
    if orm_path:
        monkeypatch.setattr(SQLCompiler, "as_sql", _compile_raises(SQLCompiler.as_sql))

    found = _family_lookup.family_and_user(family.public_id)
    with transaction.atomic():
        locked = _family_lookup.family_for_update(family.public_id)
    without_its_user = RefreshTokenFamily.objects.get(pk=family.pk)

    assert found is not None and found[1].pk == family.user_id
    assert locked is not None and locked.user.pk == family.user_id
    assert _family_lookup.user_of(without_its_user).pk == family.user_id
