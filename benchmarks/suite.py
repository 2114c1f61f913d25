"""Every benchmark section against one database; prints the results as JSON on stdout.

Run by ``benchmarks.run`` once per database (``BENCH_DATABASE_URL`` unset: SQLite file;
set: PostgreSQL). Not meant to be run by hand, but ``python -m benchmarks.suite`` works.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
warnings.filterwarnings("ignore", message="The OAuth 2.0 resource owner password", module="")
django.setup()

import jwt  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.request import Request  # noqa: E402

from benchmarks import dpop  # noqa: E402
from benchmarks.harness import Contender, Reply, call, expect, run_alternating, summary  # noqa: E402

PASSWORD = "correct horse battery staple"
User = get_user_model()


def _user(username: str, hasher: str = "md5") -> Any:
    return User.objects.create(username=username, password=make_password(PASSWORD, hasher=hasher))


def _fast_hasher() -> Any:
    return override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


def _revocation(mode: str, **extra: object) -> Callable[[], Any]:
    from django.conf import settings

    return lambda: override_settings(
        TOKENAUTH={**settings.TOKENAUTH, "ACCESS_TOKEN_REVOCATION": mode, **extra}
    )


def _oauth_application() -> Any:
    from oauth2_provider.models import get_application_model

    application_model = get_application_model()
    return application_model.objects.create(
        name="benchmark",
        client_id="benchmark-client",
        client_type=application_model.CLIENT_PUBLIC,
        authorization_grant_type=application_model.GRANT_PASSWORD,
        hash_client_secret=False,
    )


# --- the libraries' own ways of starting a session ------------------------------------------


def tokenauth_login(username: str) -> dict[str, Any]:
    body = {"username": username, "password": PASSWORD}
    return expect(call("POST", "/auth/login/", json_body=body)).json()


def simplejwt_login(username: str) -> dict[str, Any]:
    body = {"username": username, "password": PASSWORD}
    return expect(call("POST", "/simplejwt/token/", json_body=body)).json()


def knox_login(username: str) -> dict[str, Any]:
    return expect(call("POST", "/knox/login/", basic=(username, PASSWORD))).json()


def oauth_toolkit_login(username: str) -> dict[str, Any]:
    form = {
        "grant_type": "password",
        "username": username,
        "password": PASSWORD,
        "client_id": "benchmark-client",
    }
    return expect(call("POST", "/o/token/", form=form)).json()


def session_cookie(user: Any) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


# --- sections --------------------------------------------------------------------------------


def authenticated_request(rounds: int, ops: int) -> list[Contender]:
    """GET a trivial view that reads ``request.user.pk``, one authentication class each.

    In ``cache`` and ``none`` modes tokenauth's ``request.user`` is lazy: ``pk`` costs
    nothing, anything else loads the user; the "view loads the user" rows show that case.
    """
    user = _user("auth-request")
    with _fast_hasher():
        access = tokenauth_login(user.username)["access_token"]
        simplejwt_access = simplejwt_login(user.username)["access"]
        knox_token = knox_login(user.username)["token"]
        oauth_access = oauth_toolkit_login(user.username)["access_token"]
    cookie = session_cookie(user)

    def get(path: str, **credentials: Any) -> Callable[[], Callable[[], object]]:
        return lambda: lambda: expect(call("GET", path, **credentials))

    def tokenauth(
        mode: str, view: str, label: str = "", note: str = "", **extra: object
    ) -> Contender:
        name = f"tokenauth ({mode}){label}"
        context = _revocation(mode, **extra)
        return Contender(name, get(view, bearer=access), True, note=note, context=context)

    no_user = "the view reads only pk, so no user is loaded"
    loads_user = "request.user.get_username()"
    in_process = []
    if _cache_backend() != "LocMem":  # issue 9's target is on an in-process cache
        in_process = [
            tokenauth("cache", "/api/tokenauth/", " on LocMem", no_user, CACHE_ALIAS="locmem")
        ]
    contenders = [
        tokenauth("database", "/api/tokenauth/"),
        tokenauth("cache", "/api/tokenauth/", note=f"{_cache_backend()}; {no_user}"),
        *in_process,
        tokenauth("none", "/api/tokenauth/", note=f"no revocation check; {no_user}"),
        tokenauth("cache", "/api/tokenauth-username/", ", view loads the user", loads_user),
        tokenauth("none", "/api/tokenauth-username/", ", view loads the user", loads_user),
        Contender("simplejwt JWTAuthentication", get("/api/simplejwt/", bearer=simplejwt_access)),
        Contender(
            "simplejwt JWTStatelessUserAuthentication",
            get("/api/simplejwt-stateless/", bearer=simplejwt_access),
            note="no revocation check",
        ),
        Contender(
            "knox TokenAuthentication", get("/api/knox/", authorization=f"Token {knox_token}")
        ),
        Contender(
            "oauth-toolkit OAuth2Authentication", get("/api/oauth-toolkit/", bearer=oauth_access)
        ),
        Contender("DRF SessionAuthentication", get("/api/session/", cookies=cookie)),
        Contender("no authentication (floor)", get("/api/floor/")),
    ]
    run_alternating(contenders, rounds=rounds, ops_per_round=ops)
    return contenders


def verification(rounds: int, ops: int) -> list[Contender]:
    """Checking the token alone: tokenauth's verifier, simplejwt's, and bare ``jwt.decode``."""
    from rest_framework_simplejwt.tokens import AccessToken

    from tokenauth.access import decode_access_token
    from tokenauth.keys import get_key_set

    user = _user("verification")
    with _fast_hasher():
        access = tokenauth_login(user.username)["access_token"]
        simplejwt_access = simplejwt_login(user.username)["access"]
    key = get_key_set().signing

    def raw_decode() -> object:
        return jwt.decode(
            access,
            key.verifying_key,
            algorithms=[key.algorithm],
            options={"require": ["exp", "iat", "sub", "sid"]},
        )

    contenders = [
        Contender(
            "tokenauth decode_access_token", lambda: lambda: decode_access_token(access), True
        ),
        Contender("simplejwt AccessToken()", lambda: lambda: AccessToken(simplejwt_access)),
        Contender("jwt.decode (limit)", lambda: raw_decode, note="same token, same key"),
    ]
    run_alternating(contenders, rounds=rounds, ops_per_round=ops, warmup=200)
    return contenders


class JWTDecodeAuthentication(BaseAuthentication):
    """The limit for an authentication class: read the Bearer header, one ``jwt.decode``, and
    nothing else (no typ, kid, iss, aud or pk check, no user)."""

    def __init__(self) -> None:
        from tokenauth.keys import get_key_set

        self.key = get_key_set().signing

    def authenticate(self, request: Request) -> tuple[Any, Any]:
        access_token = request.META["HTTP_AUTHORIZATION"].split()[1]
        payload = jwt.decode(
            access_token,
            self.key.verifying_key,
            algorithms=[self.key.algorithm],
            options={"require": ["exp", "iat", "sub", "sid"]},
        )
        return payload["sub"], payload


def authentication_class(rounds: int, ops: int) -> list[Contender]:
    """``authenticate()`` alone on one prepared request: what each class adds to a request."""
    from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

    from tokenauth.authentication import AccessTokenAuthentication

    user = _user("authentication-class")
    with _fast_hasher():
        access = tokenauth_login(user.username)["access_token"]
        simplejwt_access = simplejwt_login(user.username)["access"]
    factory = RequestFactory()

    def authenticate(authentication: type[BaseAuthentication], bearer: str) -> Any:
        def make() -> Callable[[], object]:
            request = Request(factory.get("/", HTTP_AUTHORIZATION=f"Bearer {bearer}"))
            authenticator = authentication()
            return lambda: authenticator.authenticate(request)

        return make

    tokenauth = authenticate(AccessTokenAuthentication, access)
    contenders = [
        Contender("tokenauth (none)", tokenauth, True, context=_revocation("none")),
        Contender(
            "tokenauth (cache) on LocMem",
            tokenauth,
            True,
            context=_revocation("cache", CACHE_ALIAS="locmem"),
        ),
        Contender(
            "simplejwt JWTStatelessUserAuthentication",
            authenticate(JWTStatelessUserAuthentication, simplejwt_access),
        ),
        Contender(
            "jwt.decode class (limit)",
            authenticate(JWTDecodeAuthentication, access),
            note="same token, same key",
        ),
    ]
    run_alternating(contenders, rounds=rounds, ops_per_round=ops, warmup=200)
    return contenders


def dpop_request(rounds: int, ops: int) -> list[Contender]:
    user = _user("dpop-request")
    with _fast_hasher():  # the logins before the rounds; requests never hash
        return dpop.request_section(
            user.username, PASSWORD, rounds=rounds, ops=ops, cache_backend=_cache_backend()
        )


def _rotating(
    login: Callable[[str], dict[str, Any]],
    refresh: Callable[[str], tuple[str, Reply]],
    username: str,
    refresh_key: str,
) -> Callable[[], Callable[[], object]]:
    """An operation that trades the current refresh token for the next, as a client does."""

    def make() -> Callable[[], object]:
        with _fast_hasher():
            state = {"token": login(username)[refresh_key]}

        def operation() -> object:
            state["token"], reply = refresh(state["token"])
            return reply

        return operation

    return make


def tokenauth_refresh(token: str) -> tuple[str, Reply]:
    reply = expect(call("POST", "/auth/refresh/", json_body={"refresh_token": token}))
    return reply.json()["refresh_token"], reply


def simplejwt_refresh(token: str) -> tuple[str, Reply]:
    reply = expect(call("POST", "/simplejwt/refresh/", json_body={"refresh": token}))
    return reply.json()["refresh"], reply


def oauth_toolkit_refresh(token: str) -> tuple[str, Reply]:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": "benchmark-client"}
    reply = expect(call("POST", "/o/token/", form=form))
    return reply.json()["refresh_token"], reply


REFRESHERS = {
    "tokenauth": (tokenauth_login, tokenauth_refresh, "refresh_token"),
    "simplejwt (rotate + blacklist)": (simplejwt_login, simplejwt_refresh, "refresh"),
    "oauth-toolkit refresh grant": (oauth_toolkit_login, oauth_toolkit_refresh, "refresh_token"),
}


def refresh_with_rotation(rounds: int, ops: int) -> list[Contender]:
    contenders = []
    for library, (login, refresh, key) in REFRESHERS.items():
        user = _user(f"refresh-{library.split()[0]}")
        contenders.append(
            Contender(
                library, _rotating(login, refresh, user.username, key), library == "tokenauth"
            )
        )
    contenders.append(Contender("knox", lambda: lambda: None, note="n/a: no refresh tokens"))
    run_alternating(contenders[:-1], rounds=rounds, ops_per_round=ops, warmup=5)
    return contenders


LOGINS: dict[str, Callable[[str], dict[str, Any]]] = {
    "tokenauth": tokenauth_login,
    "simplejwt TokenObtainPairView": simplejwt_login,
    "knox LoginView (Basic)": knox_login,
    "oauth-toolkit password grant": oauth_toolkit_login,
}


def login(rounds: int, ops: int, *, hasher: str) -> list[Contender]:
    """One user per library; each login starts a new session (rows accumulate, as in life).

    tokenauth runs its login throttle (cache round trips) and, like knox, updates
    ``last_login``; simplejwt (``UPDATE_LAST_LOGIN`` off) and oauth-toolkit do neither, and
    none throttles, so tokenauth also runs with the throttle off.
    """
    contenders = []
    variants = [(library, do_login, None) for library, do_login in LOGINS.items()]
    variants.insert(1, ("tokenauth (throttle off)", tokenauth_login, _throttle_off()))
    for library, do_login, settings_context in variants:
        user = _user(f"login-{hasher}-{library.replace(' ', '-')}", hasher=hasher)
        contexts = [c for c in (settings_context, _fast_hasher if hasher == "md5" else None) if c]
        contenders.append(
            Contender(
                library,
                lambda do_login=do_login, name=user.username: lambda: do_login(name),
                library.startswith("tokenauth"),
                note="throttle on, updates last_login" if library == "tokenauth" else "",
                context=(lambda contexts=contexts: _all_of(contexts)) if contexts else None,
            )
        )
    run_alternating(contenders, rounds=rounds, ops_per_round=ops, warmup=1)
    return contenders


def _throttle_off() -> Callable[[], Any]:
    from django.conf import settings

    return lambda: override_settings(TOKENAUTH={**settings.TOKENAUTH, "LOGIN_THROTTLE_RATE": None})


@contextlib.contextmanager
def _all_of(contexts: list[Callable[[], Any]]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for make in contexts:
            stack.enter_context(make())
        yield


def rows_after_refreshes(count: int) -> list[dict[str, Any]]:
    """How many rows one session leaves behind after ``count`` refreshes, per library."""
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    from tokenauth.models import RefreshTokenFamily

    counters: dict[str, Callable[[Any], dict[str, int]]] = {
        "tokenauth": lambda u: {
            "tokenauth_refreshtokenfamily": RefreshTokenFamily.objects.filter(user=u).count()
        },
        "simplejwt (rotate + blacklist)": lambda u: {
            "token_blacklist_outstandingtoken": OutstandingToken.objects.filter(user=u).count(),
            "token_blacklist_blacklistedtoken": BlacklistedToken.objects.filter(
                token__user=u
            ).count(),
        },
        "oauth-toolkit refresh grant": lambda u: {
            "oauth2_provider_refreshtoken": get_refresh_token_model()
            .objects.filter(user=u)
            .count(),
            "oauth2_provider_accesstoken": get_access_token_model().objects.filter(user=u).count(),
        },
    }
    results = []
    for library, (do_login, refresh, key) in REFRESHERS.items():
        user = _user(f"rows-{library.split()[0]}")
        operation = _rotating(do_login, refresh, user.username, key)()
        for _ in range(count):
            operation()
        tables = counters[library](user)
        results.append(
            {"library": library, "tables": tables, "rows": sum(tables.values()), "refreshes": count}
        )
    results.append(
        {
            "library": "knox",
            "tables": {},
            "rows": None,
            "refreshes": count,
            "note": "n/a: no refresh; one knox_authtoken row per login",
        }
    )
    return results


def _cache_backend() -> str:
    from django.conf import settings

    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return {"RedisCache": "Redis", "LocMemCache": "LocMem"}.get(backend, backend)


def _delete_cache_keys() -> None:
    """Delete what this run wrote to Redis: DPoP replay records outlive it by up to half an
    hour, and a test suite that scans the same database would then wade through them. Only
    this process's keys (its KEY_PREFIX), never anyone else's."""
    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return
    client = cache._cache.get_client(write=True)
    names = list(
        client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*", count=1000)
    )
    for start in range(0, len(names), 1000):
        client.unlink(*names[start : start + 1000])


SCALE = {"full": 1.0, "quick": 0.1, "smoke": 0.01}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=SCALE, default="full")
    parser.add_argument("--rows", action="store_true", help="also count rows after refreshes")
    args = parser.parse_args()
    scale = SCALE[args.scale]

    def n(value: int) -> int:
        return max(2, int(value * scale))

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        _oauth_application()
        database = connection.vendor
        sections: dict[str, Any] = {
            "authenticated request": authenticated_request(rounds=7, ops=n(1000)),
            "authentication class alone": authentication_class(rounds=7, ops=n(5000)),
            "verify access token": verification(rounds=7, ops=n(5000)),
            dpop.REQUEST_SECTION: dpop_request(rounds=7, ops=n(1000)),
            dpop.PROOF_SECTION: dpop.proof_section(
                rounds=7, ops=n(5000), cache_backend=_cache_backend()
            ),
            "refresh with rotation": refresh_with_rotation(rounds=7, ops=n(200)),
            "login, fast hasher (MD5)": login(rounds=7, ops=n(50), hasher="md5"),
            "login, default hasher (PBKDF2)": login(rounds=3, ops=2, hasher="pbkdf2_sha256"),
        }
        result: dict[str, Any] = {
            "database": database,
            "cache": _cache_backend(),
            "sections": {
                name: [
                    summary(c)
                    if c.per_op_us
                    else {"library": c.library, "note": c.note, "is_tokenauth": False}
                    for c in contenders
                ]
                for name, contenders in sections.items()
            },
        }
        if args.rows:
            result["rows"] = rows_after_refreshes(n(1000) if scale < 1 else 1000)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        _delete_cache_keys()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
