"""Profile one tokenauth operation with cProfile: ``python -m benchmarks.profile refresh``.

Operations: ``auth`` (a database-mode authenticated request), ``auth-cache`` and
``auth-none`` (the same in those modes), ``verify``, ``refresh``, ``login``. Set
``BENCH_DATABASE_URL`` / ``BENCH_REDIS_URL`` as for the suite.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from collections.abc import Callable

from benchmarks import suite  # sets Django up
from benchmarks.harness import call, expect


def operations() -> dict[str, Callable[[], Callable[[], object]]]:
    from tokenauth.access import decode_access_token

    def auth() -> Callable[[], object]:
        access = suite.tokenauth_login(suite._user("profile-auth").username)["access_token"]
        return lambda: expect(call("GET", "/api/tokenauth/", bearer=access))

    def in_mode(mode: str) -> Callable[[], Callable[[], object]]:
        def make() -> Callable[[], object]:
            suite._revocation(mode)().enable()  # for the rest of this process
            return auth()

        return make

    def verify() -> Callable[[], object]:
        access = suite.tokenauth_login(suite._user("profile-verify").username)["access_token"]
        return lambda: decode_access_token(access)

    def refresh() -> Callable[[], object]:
        user = suite._user("profile-refresh")
        return suite._rotating(
            suite.tokenauth_login, suite.tokenauth_refresh, user.username, "refresh_token"
        )()

    def login() -> Callable[[], object]:
        name = suite._user("profile-login").username
        return lambda: suite.tokenauth_login(name)

    return {
        "auth": auth,
        "auth-cache": in_mode("cache"),
        "auth-none": in_mode("none"),
        "verify": verify,
        "refresh": refresh,
        "login": login,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("operation", choices=list(operations()))
    parser.add_argument("-n", type=int, default=2000, help="operations to profile")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    from django.db import connection

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        suite._oauth_application()
        with suite._fast_hasher():
            operation = operations()[args.operation]()
            for _ in range(50):
                operation()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.n):
                operation()
            profiler.disable()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.limit)


if __name__ == "__main__":
    main()
