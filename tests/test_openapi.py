"""The OpenAPI schema drf-spectacular generates for a project that uses tokenauth (DESIGN §10):
clean under ``spectacular --validate --fail-on-warn``, with the Bearer scheme on protected views,
and true: real requests to every endpoint get the statuses, bodies and headers it documents.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.conftest import FORM, UNREACHABLE_REDIS, bearer, post_form, post_json, private_pem
from tests.factories import PASSWORD, UserFactory
from tokenauth import serializers as tokenauth_serializers
from tokenauth import views as tokenauth_views

pytest.importorskip("drf_spectacular", reason="needs drf-spectacular (the openapi extra)")
jsonschema = pytest.importorskip("jsonschema", reason="needs jsonschema (drf-spectacular's)")

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "http://testserver"
CSRF_PROOF = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_ORIGIN": ORIGIN}
TOKENAUTH_OPERATIONS = {
    ("post", "/auth/login/"): "tokenauth_login",
    ("post", "/auth/refresh/"): "tokenauth_refresh",
    ("post", "/auth/token/"): "tokenauth_token",
    ("post", "/auth/logout/"): "tokenauth_logout",
    ("post", "/auth/logout-all/"): "tokenauth_logout_all",
    ("post", "/auth/revoke/"): "tokenauth_revoke",
    ("get", "/auth/sessions/"): "tokenauth_sessions_list",
    ("delete", "/auth/sessions/{family_public_id}/"): "tokenauth_sessions_revoke",
    ("get", "/auth/jwks.json"): "tokenauth_jwks",
}
PROTECTED = {
    ("post", "/auth/logout-all/"),
    ("get", "/auth/sessions/"),
    ("delete", "/auth/sessions/{family_public_id}/"),
    ("get", "/api/me/"),
    ("get", "/api/whoami/"),
}


SPECTACULAR = """
import sys
for name in sys.argv[1:]:
    sys.modules[name] = None  # as if it were not installed: importing it fails
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "spectacular", "--validate", "--fail-on-warn",
                           "--file", "schema.yaml"])
"""


def run_spectacular(
    settings_module: str, tmp_path: Path, *, missing: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``manage.py spectacular --validate --fail-on-warn``, with the named packages missing."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(  # noqa: S603  # our own interpreter and arguments
        [sys.executable, "-c", SPECTACULAR, *missing],
        cwd=tmp_path,
        env={
            **environment,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "PYTHONPATH": os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")]),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("settings_module", "missing"),
    [
        ("tests.openapi_settings", ()),
        ("tests.openapi_settings", ("rest_framework_simplejwt",)),
        ("example_project.settings", ()),
    ],
)
def test_spectacular_validate_fail_on_warn_is_clean(
    settings_module: str, missing: tuple[str, ...], tmp_path: Path
) -> None:
    """drf-spectacular set up as its docs say, and nothing else: the test project (its own
    views documented too, and the simplejwt contrib's when simplejwt is installed: without it,
    no warning about the contrib's extensions either) and the example project."""
    completed = run_spectacular(settings_module, tmp_path, missing=missing)

    assert completed.returncode == 0, completed.stderr
    assert "Warning" not in completed.stderr and "Error" not in completed.stderr, completed.stderr
    schema = (tmp_path / "schema.yaml").read_text()
    assert "securitySchemes" in schema
    assert ("tokenauth_simplejwt_exchange" in schema) is (
        settings_module == "tests.openapi_settings" and not missing
    )


NOT_INSTALLED = """
import sys
sys.modules["drf_spectacular"] = None  # as if it were not installed: importing it fails
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("check")
import tokenauth.urls, tokenauth.views
response = Client().get("/auth/jwks.json")
loaded = sorted(name for name, module in sys.modules.items()
                if module is not None and name.startswith(("drf_spectacular", "tokenauth.contrib")))
print(response.status_code, response.json(), loaded)
"""


def test_tokenauth_imports_nothing_of_drf_spectacular_when_it_is_not_installed() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    completed = subprocess.run(  # noqa: S603  # our own interpreter and arguments
        [sys.executable, "-c", NOT_INSTALLED],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "200 {'keys': []} []"


@pytest.fixture
def openapi(settings: Any) -> Callable[[], dict[str, Any]]:
    """The test project's schema under the current settings, generated as ``spectacular`` does;
    any drf-spectacular warning or error fails the test."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    }

    def generate() -> dict[str, Any]:
        GENERATOR_STATS.reset()
        schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
        assert not GENERATOR_STATS, (GENERATOR_STATS._warn_cache, GENERATOR_STATS._error_cache)
        validate_schema(schema)
        return json.loads(json.dumps(schema))  # plain JSON, as a client reads it

    return generate


@pytest.fixture
def cookie_mode(tokenauth_settings: Any) -> None:
    tokenauth_settings(REFRESH_COOKIE={})


def operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


@pytest.mark.parametrize("mode", ["body", "cookie"])
def test_each_tokenauth_endpoint_is_one_clean_operation(
    openapi: Any, request: Any, mode: str
) -> None:
    if mode == "cookie":
        request.getfixturevalue("cookie_mode")
    found = operations(openapi())

    assert {key: found[key]["operationId"] for key in TOKENAUTH_OPERATIONS} == TOKENAUTH_OPERATIONS
    for key in TOKENAUTH_OPERATIONS:
        assert found[key]["summary"] and found[key]["description"], key


def test_no_internal_docstring_becomes_an_operation_or_component_description(
    openapi: Any, cookie_mode: None
) -> None:
    """The views' and serializers' docstrings are for tokenauth's developers (they name
    families, the CSRF rule's modules, ...): a client reads the schema's own text."""
    text = json.dumps(openapi())
    modules = (tokenauth_views, tokenauth_serializers)
    docstrings = {
        (name, inspect.cleandoc(value.__doc__))
        for module in modules
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__ == module.__name__ and value.__doc__
    }

    assert docstrings  # the check looks at something
    leaked = [name for name, doc in docstrings if json.dumps(doc)[1:-1] in text]
    assert leaked == []


def test_protected_views_require_the_bearer_scheme_and_public_ones_do_not(openapi: Any) -> None:
    schema = openapi()

    assert schema["components"]["securitySchemes"]["Bearer"]["type"] == "http"
    assert schema["components"]["securitySchemes"]["Bearer"]["scheme"] == "bearer"
    assert schema["components"]["securitySchemes"]["Bearer"]["bearerFormat"] == "JWT"
    for key, operation in operations(schema).items():
        expected = [{"Bearer": []}] if key in PROTECTED else [{}]
        assert operation["security"] == expected, key


def test_204s_and_revokes_200_have_no_content(openapi: Any) -> None:
    found = operations(openapi())

    for key, status in [
        (("post", "/auth/logout/"), "204"),
        (("post", "/auth/logout-all/"), "204"),
        (("delete", "/auth/sessions/{family_public_id}/"), "204"),
        (("post", "/auth/revoke/"), "200"),
    ]:
        assert "content" not in found[key]["responses"][status], key
        assert "200" not in found[key]["responses"] or status == "200", key


@pytest.mark.parametrize("mode", ["body", "cookie"])
def test_request_bodies_are_json_and_form_where_the_endpoint_parses_a_form(
    openapi: Any, request: Any, mode: str
) -> None:
    if mode == "cookie":
        request.getfixturevalue("cookie_mode")
    found = operations(openapi())
    media_types = {
        key: sorted(operation.get("requestBody", {}).get("content", {}))
        for key, operation in found.items()
        if key in TOKENAUTH_OPERATIONS
    }

    assert media_types == {
        ("post", "/auth/login/"): ["application/json"],
        ("post", "/auth/refresh/"): ["application/json"],
        ("post", "/auth/token/"): ["application/json", FORM],
        ("post", "/auth/logout/"): ["application/json"],
        ("post", "/auth/logout-all/"): [],
        ("post", "/auth/revoke/"): ["application/json", FORM],
        ("get", "/auth/sessions/"): [],
        ("delete", "/auth/sessions/{family_public_id}/"): [],
        ("get", "/auth/jwks.json"): [],
    }
    refresh = found["post", "/auth/refresh/"]["requestBody"]["content"]["application/json"]
    required = component(openapi(), refresh["schema"]).get("required", [])
    # Outside cookie mode the body is the only way the refresh token comes.
    assert required == ([] if mode == "cookie" else ["refresh_token"])


# --- real requests against the schema -----------------------------------------------------


def component(schema: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    name = reference["$ref"].removeprefix("#/components/schemas/")
    found: dict[str, Any] = schema["components"]["schemas"][name]
    return found


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema's ``null`` type; the rest is the same."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _as_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    return converted


def conforms(schema: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The response is one the operation documents: its status, its body's schema (none for
    a body-less one), its required headers, and an error code among the documented ones."""
    documented = schema["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, (method, path, status, response.content)
    spec = documented[status]
    for name, header in spec.get("headers", {}).items():
        if header.get("required"):
            assert response.has_header(name), (method, path, status, name)
    if "content" not in spec:
        assert response.content == b"", (method, path, status)
        return
    assert response["Content-Type"].split(";")[0] in spec["content"]
    media = spec["content"]["application/json"]
    body = response.json()
    validator = jsonschema.Draft202012Validator(
        {**_as_json_schema(media["schema"]), "components": _as_json_schema(schema["components"])}
    )
    errors = [error.message for error in validator.iter_errors(body)]
    assert errors == [], (method, path, status, body)
    if "examples" in media:  # error responses: the codes this status can carry
        codes = {example["value"]["error"] for example in media["examples"].values()}
        assert body["error"] in codes, (method, path, status, body)


BIG = {"padding": "x" * 17_000}


def test_login_answers_as_documented(
    openapi: Any, client: Client, user: Any, tokenauth_settings: Any
) -> None:
    schema = openapi()
    good = {"username": user.username, "password": PASSWORD}
    answers = [
        (post_json(client, "/auth/login/", good), 200),
        (post_json(client, "/auth/login/", {"username": user.username}), 400),
        (post_json(client, "/auth/login/", {**good, "password": "wrong"}), 400),
        (post_json(client, "/auth/login/", BIG), 413),
        (post_form(client, "/auth/login/", good), 415),
        (client.post("/auth/login/", b"{not json", content_type="application/json"), 400),
    ]
    tokenauth_settings(LOGIN_THROTTLE_RATE="1/min")
    post_json(client, "/auth/login/", {**good, "password": "wrong"})
    answers.append((post_json(client, "/auth/login/", {**good, "password": "wrong"}), 429))

    for response, status in answers:
        assert response.status_code == status, response.content
        conforms(schema, "post", "/auth/login/", response)
    assert "refresh_token" in answers[0][0].json()


def test_login_in_cookie_mode_answers_as_documented(
    openapi: Any, client: Client, user: Any, cookie_mode: None
) -> None:
    schema = openapi()
    good = {"username": user.username, "password": PASSWORD}

    refused = post_json(client, "/auth/login/", good)  # no CSRF proof
    logged_in = post_json(client, "/auth/login/", good, **CSRF_PROOF)

    assert refused.status_code == 403
    assert logged_in.status_code == 200
    assert "refresh_token" not in logged_in.json()  # in the cookie, as documented
    assert "Set-Cookie" in schema["paths"]["/auth/login/"]["post"]["responses"]["200"]["headers"]
    for response in (refused, logged_in):
        conforms(schema, "post", "/auth/login/", response)


@pytest.mark.parametrize("url", ["/auth/refresh/", "/auth/token/"])
def test_refreshes_answer_as_documented(
    openapi: Any, client: Client, user: Any, login: Any, url: str
) -> None:
    schema = openapi()
    tokens = login(user)
    grant = {"grant_type": "refresh_token"} if url == "/auth/token/" else {}
    answers = [
        (post_json(client, url, {**grant, "refresh_token": tokens["refresh_token"]}), 200),
        (post_json(client, url, {**grant, "refresh_token": "tka_forged"}), 400),
        (post_json(client, url, {**grant, "refresh_token": 123}), 400),
        (post_json(client, url, {**grant}), 400),
        (post_json(client, url, {**grant, **BIG}), 413),
        (client.post(url, b"refresh_token=x", content_type="text/plain"), 415),
    ]

    for response, status in answers:
        assert response.status_code == status, response.content
        conforms(schema, "post", url, response)


def test_refresh_through_the_cookie_answers_as_documented(
    openapi: Any, client: Client, user: Any, cookie_mode: None
) -> None:
    schema = openapi()
    good = {"username": user.username, "password": PASSWORD}
    assert post_json(client, "/auth/login/", good, **CSRF_PROOF).status_code == 200

    refused = post_json(client, "/auth/refresh/", {})  # the cookie, without the CSRF proof
    refreshed = post_json(client, "/auth/refresh/", {}, **CSRF_PROOF)
    logged_out = post_json(client, "/auth/logout/", {}, **CSRF_PROOF)

    assert [refused.status_code, refreshed.status_code, logged_out.status_code] == [403, 200, 204]
    assert "refresh_token" not in refreshed.json()
    conforms(schema, "post", "/auth/refresh/", refused)
    conforms(schema, "post", "/auth/refresh/", refreshed)
    conforms(schema, "post", "/auth/logout/", logged_out)


def test_the_token_endpoint_answers_as_documented(
    openapi: Any, client: Client, user: Any, tokenauth_settings: Any
) -> None:
    schema = openapi()
    good = {"grant_type": "password", "username": user.username, "password": PASSWORD}
    answers = [
        (post_form(client, "/auth/token/", good), 200),
        (post_json(client, "/auth/token/", good), 200),
        (post_form(client, "/auth/token/", {**good, "password": "wrong"}), 400),
        (post_form(client, "/auth/token/", {**good, "grant_type": "client_credentials"}), 400),
        (post_form(client, "/auth/token/", {"grant_type": "password"}), 400),
        (client.post("/auth/token/", {"grant_type": "password"}), 415),  # multipart
    ]
    tokenauth_settings(LOGIN_THROTTLE_RATE="1/min")
    post_form(client, "/auth/token/", {**good, "password": "wrong"})
    answers.append((post_form(client, "/auth/token/", {**good, "password": "wrong"}), 429))

    for response, status in answers:
        assert response.status_code == status, response.content
        conforms(schema, "post", "/auth/token/", response)
    assert answers[4][0].json()["error"] == "invalid_request"
    assert answers[3][0].json()["error"] == "unsupported_grant_type"


def test_logouts_and_revoke_answer_as_documented(
    openapi: Any, client: Client, user: Any, login: Any
) -> None:
    schema = openapi()
    first, second, third = login(user), login(user), login(user)
    answers = [
        ("/auth/logout/", post_json(client, "/auth/logout/", {"refresh_token": "tka_x"}), 204),
        (
            "/auth/logout/",
            post_json(client, "/auth/logout/", {"refresh_token": first["refresh_token"]}),
            204,
        ),
        ("/auth/logout/", post_json(client, "/auth/logout/", {}), 400),
        ("/auth/logout/", post_form(client, "/auth/logout/", {"refresh_token": "x"}), 415),
        ("/auth/logout/", post_json(client, "/auth/logout/", BIG), 413),
        ("/auth/revoke/", post_form(client, "/auth/revoke/", {"token": "unknown"}), 200),
        (
            "/auth/revoke/",
            post_json(client, "/auth/revoke/", {"token": second["access_token"]}),
            200,
        ),
        ("/auth/revoke/", post_form(client, "/auth/revoke/", {}), 400),
        ("/auth/revoke/", client.post("/auth/revoke/", b"x", content_type="text/plain"), 415),
        ("/auth/logout-all/", client.post("/auth/logout-all/"), 401),
        ("/auth/logout-all/", client.post("/auth/logout-all/", **bearer("not.a.jwt")), 401),
        (
            "/auth/logout-all/",
            post_json(client, "/auth/logout-all/", BIG, **bearer(third["access_token"])),
            413,
        ),
        (
            "/auth/logout-all/",
            client.post("/auth/logout-all/", **bearer(third["access_token"])),
            204,
        ),
    ]

    for url, response, status in answers:
        assert response.status_code == status, (url, response.content)
        conforms(schema, "post", url, response)


def test_sessions_answer_as_documented(openapi: Any, client: Client, user: Any, login: Any) -> None:
    schema = openapi()
    mine, other = login(user), login(UserFactory())
    listed = client.get("/auth/sessions/", **bearer(mine["access_token"]))
    session_id = listed.json()[0]["id"]
    detail = "/auth/sessions/{family_public_id}/"
    other_id = client.get("/auth/sessions/", **bearer(other["access_token"])).json()[0]["id"]
    answers = [
        ("get", "/auth/sessions/", listed, 200),
        ("get", "/auth/sessions/", client.get("/auth/sessions/"), 401),
        (
            "delete",
            detail,
            client.delete(f"/auth/sessions/{other_id}/", **bearer(mine["access_token"])),
            404,
        ),
        ("delete", detail, client.delete(f"/auth/sessions/{session_id}/"), 401),
        (
            "delete",
            detail,
            client.delete(f"/auth/sessions/{session_id}/", **bearer(mine["access_token"])),
            204,
        ),
    ]

    for method, path, response, status in answers:
        assert response.status_code == status, (path, response.content)
        conforms(schema, method, path, response)


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "ES256", "EdDSA"])
def test_the_key_set_answers_as_documented(
    openapi: Any, client: Client, tokenauth_settings: Any, algorithm: str
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    keys = {
        "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate,
    }
    if algorithm in keys:
        tokenauth_settings(ALGORITHM=algorithm, SIGNING_KEY=private_pem(keys[algorithm]()))
    schema = openapi()

    response = client.get("/auth/jwks.json")

    assert response.status_code == 200
    assert len(response.json()["keys"]) == (0 if algorithm == "HS256" else 1)
    conforms(schema, "get", "/auth/jwks.json", response)


def test_503_answers_as_documented(
    openapi: Any, client: Client, user: Any, settings: Any, tokenauth_settings: Any
) -> None:
    schema = openapi()
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS}
    tokenauth_settings(
        CACHE_ALIAS="unreachable", ACCESS_TOKEN_REVOCATION="cache", CACHE_FAILURE="closed"
    )
    body = {"username": user.username, "password": PASSWORD}

    for url, response in [
        ("/auth/login/", post_json(client, "/auth/login/", body)),
        ("/auth/token/", post_form(client, "/auth/token/", {"grant_type": "password", **body})),
        ("/auth/refresh/", post_json(client, "/auth/refresh/", {"refresh_token": "tka_x"})),
    ]:
        assert response.status_code == 503, (url, response.content)
        conforms(schema, "post", url, response)


def test_the_401_hook_documents_the_projects_own_protected_views(
    openapi: Any, client: Client
) -> None:
    """drf-spectacular leaves a view's 401 out; ``document_unauthorized`` adds it wherever the
    Bearer scheme is required, as AccessTokenAuthentication answers it."""
    from drf_spectacular.settings import patched_settings

    hooks = [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tokenauth.contrib.openapi.hooks.document_unauthorized",
    ]
    without = operations(openapi())
    with patched_settings({"POSTPROCESSING_HOOKS": hooks}):
        schema = openapi()
    found = operations(schema)

    assert "401" not in without["get", "/api/me/"]["responses"]
    assert {key for key, operation in found.items() if "401" in operation["responses"]} == PROTECTED
    assert found["post", "/auth/logout-all/"] == without["post", "/auth/logout-all/"]  # its own
    for response in (client.get("/api/me/"), client.get("/api/me/", **bearer("x.y.z"))):
        assert response.status_code == 401
        conforms(schema, "get", "/api/me/", response)


def test_the_401_hook_covers_optional_auth_and_leaves_other_schemes_alone() -> None:
    from tokenauth.contrib.openapi.hooks import document_unauthorized

    ok = {"200": {"description": "ok"}}
    schema = {
        "paths": {
            "/public/": {
                # An AllowAny view with the default authentication: a bad token is still a 401.
                "get": {"security": [{"Bearer": []}, {}], "responses": dict(ok)},
                "parameters": [{"in": "query", "name": "q"}],  # path-level, not an operation
            },
            "/basic/": {"get": {"security": [{"basicAuth": []}], "responses": dict(ok)}},
            "/open/": {"get": {"responses": dict(ok)}},
        }
    }

    paths = document_unauthorized(schema, generator=None, request=None, public=True)["paths"]

    assert paths["/public/"]["get"]["responses"]["401"]["headers"]["WWW-Authenticate"]["required"]
    assert paths["/basic/"]["get"]["responses"] == ok
    assert paths["/open/"]["get"]["responses"] == ok
    assert schema["components"]["schemas"]["TokenauthDetail"]["required"] == ["detail"]


@pytest.mark.parametrize(
    "spectacular",
    [
        {"COMPONENT_SPLIT_REQUEST": True},
        {"COMPONENT_SPLIT_REQUEST": True, "COMPONENT_SPLIT_PATCH": True},
        {"ENFORCE_NON_BLANK_FIELDS": True},
        {"OAS_VERSION": "3.1.0"},
    ],
    ids=repr,
)
def test_common_drf_spectacular_settings_stay_clean(
    openapi: Any, cookie_mode: None, spectacular: dict[str, Any]
) -> None:
    """A project's own drf-spectacular settings get no warning from tokenauth either, and
    tokenauth's components keep names of their own."""
    from drf_spectacular.settings import patched_settings

    with patched_settings(spectacular):
        schema = openapi()

    ours = {name for name in schema["components"]["schemas"] if name.startswith("Tokenauth")}
    assert set(schema["components"]["schemas"]) - ours <= {"Me", "WhoAmI"}
    if spectacular.get("COMPONENT_SPLIT_REQUEST"):
        assert {"TokenauthLoginRequest", "TokenauthRevokeRequest"} <= ours


@pytest.mark.parametrize(("seconds", "said"), [(10, "within 10 s"), (0, None)])
def test_refresh_describes_the_grace_window_the_settings_give(
    openapi: Any, tokenauth_settings: Any, seconds: int, said: str | None
) -> None:
    from datetime import timedelta

    tokenauth_settings(REUSE_GRACE_PERIOD=timedelta(seconds=seconds))

    description = operations(openapi())["post", "/auth/refresh/"]["description"]

    assert ("retry" in description) is (said is not None)
    assert said is None or said in description


@pytest.mark.urls("tests.urls_simplejwt")
def test_the_simplejwt_contrib_is_documented_and_answers_as_documented(
    openapi: Any, client: Client, user: Any
) -> None:
    pytest.importorskip("rest_framework_simplejwt", reason="needs djangorestframework-simplejwt")
    from rest_framework_simplejwt.tokens import RefreshToken

    schema = openapi()
    found = operations(schema)
    exchange = "/auth/simplejwt/exchange/"

    assert found["post", exchange]["operationId"] == "tokenauth_simplejwt_exchange"
    from tokenauth.contrib.simplejwt import views as simplejwt_views

    for internal in (
        simplejwt_views.SimpleJWTExchangeView,
        simplejwt_views.SimpleJWTRefreshSerializer,
    ):
        assert json.dumps(inspect.cleandoc(internal.__doc__ or "x"))[1:-1] not in json.dumps(schema)
    # The transition class takes the same header: one Bearer, named once.
    assert found["get", "/api/transition/me/"]["security"] == [{"Bearer": []}]
    assert set(schema["components"]["securitySchemes"]) == {"Bearer"}
    answers = [
        (post_json(client, exchange, {"refresh": str(RefreshToken.for_user(user))}), 200),
        (post_json(client, exchange, {"refresh": "not.a.jwt"}), 400),
        (post_json(client, exchange, {}), 400),
        (post_form(client, exchange, {"refresh": "x"}), 415),
        (post_json(client, exchange, BIG), 413),
    ]
    for response, status in answers:
        assert response.status_code == status, response.content
        conforms(schema, "post", exchange, response)
    simplejwt_access = str(RefreshToken.for_user(user).access_token)
    me = client.get("/api/transition/me/", **bearer(simplejwt_access))
    assert me.status_code == 200
    conforms(schema, "get", "/api/transition/me/", me)


def test_the_simplejwt_transition_class_alone_is_a_scheme_of_its_own(settings: Any) -> None:
    pytest.importorskip("rest_framework_simplejwt", reason="needs djangorestframework-simplejwt")
    from django.urls import path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    from tests.urls import MeView
    from tokenauth.contrib.simplejwt.authentication import SimpleJWTTransitionAuthentication

    class OnlySimpleJWT(MeView):
        authentication_classes = [SimpleJWTTransitionAuthentication]

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    }
    GENERATOR_STATS.reset()
    patterns = [path("old/", OnlySimpleJWT.as_view()), path("new/", MeView.as_view())]
    schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)

    assert not GENERATOR_STATS, GENERATOR_STATS._warn_cache
    assert schema["paths"]["/old/"]["get"]["security"] == [{"SimpleJWTBearer": []}]
    assert schema["paths"]["/new/"]["get"]["security"] == [{"Bearer": []}]
    assert set(schema["components"]["securitySchemes"]) == {"Bearer", "SimpleJWTBearer"}
