"""A ``DATABASES`` entry from a URL: ``postgres://`` or ``mysql://`` (MariaDB too).

Shared by the example project, the test settings and the benchmarks, so that one
``DATABASE_URL`` means the same database everywhere.
"""

from __future__ import annotations

from urllib.parse import unquote, urlparse

# scheme: (engine, default user, default port)
_SCHEMES = {
    "postgres": ("django.db.backends.postgresql", "postgres", 5432),
    "postgresql": ("django.db.backends.postgresql", "postgres", 5432),
    "mysql": ("django.db.backends.mysql", "root", 3306),
    "mariadb": ("django.db.backends.mysql", "root", 3306),
}


def database_from_url(url: str) -> dict[str, object]:
    """``scheme://user:password@host:port/name`` as Django's settings for that database.

    MySQL and MariaDB connect in ``utf8mb4`` (Django's ``utf8`` is the three-byte one) and
    create test databases in it; the isolation level stays Django's ``read committed``.
    """
    parsed = urlparse(url)
    if parsed.scheme not in _SCHEMES:
        raise ValueError(
            f"DATABASE_URL: unknown scheme {parsed.scheme!r}; use postgres:// or mysql://"
        )
    engine, default_user, default_port = _SCHEMES[parsed.scheme]
    database: dict[str, object] = {
        "ENGINE": engine,
        "NAME": parsed.path.lstrip("/") or "test",
        "USER": unquote(parsed.username or default_user),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "127.0.0.1",
        "PORT": parsed.port or default_port,
    }
    if is_mysql(url):
        database["OPTIONS"] = {"charset": "utf8mb4"}
        database["TEST"] = {"CHARSET": "utf8mb4"}
    return database


def is_mysql(url: str) -> bool:
    return urlparse(url).scheme in ("mysql", "mariadb")
