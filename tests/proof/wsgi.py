"""The example project's WSGI app, answering with ``X-Worker-Pid``: which process served it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.proof.settings")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def with_worker_pid(app: WSGIApp) -> WSGIApp:
    """Add ``X-Worker-Pid``, so a client can tell it has reached every worker."""

    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            # Read per request: right even under ``--preload``, where the app loads pre-fork.
            pid = str(os.getpid())
            return start_response(status, [*headers, ("X-Worker-Pid", pid)], *exc_info)

        return app(environ, start)

    return wrapped


application = with_worker_pid(get_wsgi_application())
