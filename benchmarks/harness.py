"""Drive Django's WSGI handler in-process, time operations in alternating rounds, count queries.

Every operation goes through the real request stack (middleware, URL resolving, DRF) and the
real database; only the socket is left out, so the figures are the library's cost, not the
network's.
"""

from __future__ import annotations

import base64
import io
import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test.utils import CaptureQueriesContext

_handler: WSGIHandler | None = None
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    method: str,
    path: str,
    *,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    bearer: str | None = None,
    basic: tuple[str, str] | None = None,
    authorization: str | None = None,
    cookies: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request through ``WSGIHandler``, exactly as a WSGI server would make it."""
    global _handler
    if _handler is None:
        _handler = WSGIHandler()
    body, content_type = b"", ""
    if json_body is not None:
        body, content_type = json.dumps(json_body).encode(), "application/json"
    elif form is not None:
        from urllib.parse import urlencode

        body, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.10",  # a client, not a proxy on loopback
        "HTTP_HOST": "127.0.0.1",
        "HTTP_USER_AGENT": "tokenauth-benchmark/1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": content_type,
    }
    if bearer is not None:
        authorization = f"Bearer {bearer}"
    if basic is not None:
        authorization = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    if cookies is not None:
        environ["HTTP_COOKIE"] = cookies
    for name, value in (headers or {}).items():  # e.g. {"DPoP": proof}
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = int(status.split()[0]), dict(headers)

    response = _handler(environ, start_response)
    try:
        content = b"".join(response)
    finally:
        response.close()  # sends request_finished, as a server does
    return Reply(captured["status"], captured["headers"], content)


def expect(reply: Reply, status: int = 200) -> Reply:
    """A benchmark of failing requests measures nothing: stop at the first wrong status."""
    if reply.status != status:
        raise AssertionError(f"expected {status}, got {reply.status}: {reply.body[:300]!r}")
    return reply


def count_queries(operation: Callable[[], object]) -> int:
    """Statements that read or write rows; transaction control is not counted (DESIGN §5)."""
    with CaptureQueriesContext(connection) as queries:
        operation()
    return sum(
        1 for q in queries.captured_queries if not q["sql"].upper().startswith(_TRANSACTION_CONTROL)
    )


@dataclass
class Contender:
    """One row of the table: a library (or variant) doing the operation under test."""

    library: str
    make_operation: Callable[[], Callable[[], object]]
    is_tokenauth: bool = False
    note: str = ""
    context: Callable[[], Any] | None = None  # e.g. override_settings for a revocation mode
    per_op_us: list[float] = field(default_factory=list)
    queries: int | None = None


def _timed(contender: Contender, operation: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        operation()
    return (time.perf_counter() - start) / count * 1e6


def run_alternating(
    contenders: list[Contender], *, rounds: int, ops_per_round: int, warmup: int = 20
) -> None:
    """Each round runs every contender once, in a rotated order, so drift hits all alike."""
    operations: dict[int, Callable[[], object]] = {}
    for contender in contenders:
        with _entered(contender):
            operation = operations[id(contender)] = contender.make_operation()
            for _ in range(warmup):
                operation()
            contender.queries = count_queries(operation)
    for round_number in range(rounds):
        shift = round_number % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            with _entered(contender):
                contender.per_op_us.append(
                    _timed(contender, operations[id(contender)], ops_per_round)
                )


class _entered:
    def __init__(self, contender: Contender) -> None:
        self._context = contender.context() if contender.context else None

    def __enter__(self) -> None:
        if self._context is not None:
            self._context.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)


def summary(contender: Contender) -> dict[str, Any]:
    values = contender.per_op_us
    return {
        "library": contender.library,
        "note": contender.note,
        "is_tokenauth": contender.is_tokenauth,
        "median_us": statistics.median(values),
        "min_us": min(values),
        "max_us": max(values),
        "rounds": values,
        "queries": contender.queries,
    }


def per_round_ratios(reference: Iterable[float], other: Iterable[float]) -> list[float]:
    """Throughput ratio reference/other per round: >1 means the reference is faster."""
    return [o / r for r, o in zip(reference, other, strict=True)]
