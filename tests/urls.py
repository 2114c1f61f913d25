from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class MeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    username = serializers.CharField()


class WhoAmISerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    authenticated = serializers.BooleanField()


class MeView(APIView):
    serializer_class = MeSerializer  # for the OpenAPI schema (tests/test_openapi.py)

    def get(self, request):  # type: ignore[no-untyped-def]
        return Response({"id": request.user.pk, "username": request.user.get_username()})


class PasswordView(APIView):
    """A project's own "change my password" endpoint: set_password and save, nothing else."""

    schema = None  # left out of the OpenAPI schema

    def post(self, request):  # type: ignore[no-untyped-def]
        request.user.set_password(request.data["password"])
        request.user.save()
        return Response(status=204)


class WhoAmIView(APIView):
    """Touches only what the lazy user gives for free."""

    serializer_class = WhoAmISerializer

    def get(self, request):  # type: ignore[no-untyped-def]
        return Response({"id": request.user.pk, "authenticated": request.user.is_authenticated})


BROWSER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tokenauth client</title></head>
<body><pre id="result">running</pre>
<script type="module">
import { TokenAuthClient } from "/static/tokenauth/client.js";
const params = new URLSearchParams(location.search);
const log = [];
const auth = new TokenAuthClient({ baseUrl: "/auth/" });
try {
  const login = await auth.login({ username: params.get("u"), password: params.get("p") });
  log.push("login-body-has-refresh-token:" + ("refresh_token" in login));
  log.push("cookie-readable-by-js:" + document.cookie.includes("tokenauth"));
  if (params.get("attack")) {
    // A page of another site, in this same browser, tries to ride on our cookie.
    const done = new Promise((resolve) => addEventListener("message", (e) => resolve(e.data)));
    const frame = document.createElement("iframe");
    frame.src = params.get("attack");
    document.body.append(frame);
    log.push("attack:" + await done);
    throw "stop";
  }
  const me = await auth.fetch("/api/me/");
  log.push("me:" + me.status + ":" + (await me.json()).username);
  const [a, b] = await Promise.all([auth.refresh(), auth.refresh()]);
  log.push("concurrent-refreshes-shared:" + (a === b));
  const again = await auth.fetch("/api/me/");
  log.push("me-after-refresh:" + again.status);
  await auth.logout();
  log.push("authenticated-after-logout:" + auth.isAuthenticated);
  try { await auth.refresh(); log.push("refresh-after-logout:200"); }
  catch (e) { log.push("refresh-after-logout:" + e.status + ":" + e.error); }
} catch (e) { if (e !== "stop") log.push("error:" + e); }
document.getElementById("result").textContent = JSON.stringify(log);
</script></body></html>"""

ATTACK_PAGE = """<!doctype html>
<html><body><script>
// Another site posts to the victim's auth endpoints the ways that need no CORS preflight.
const target = new URLSearchParams(location.search).get("target");
const post = (path, init) => fetch(target + path, {
  method: "POST", mode: "no-cors", credentials: "include", ...init,
}).then(() => "sent", () => "blocked");
Promise.all([
  post("refresh/", { headers: { "Content-Type": "text/plain" }, body: "{}" }),
  post("logout/", {
    headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "a=b",
  }),
]).then((results) => parent.postMessage(results.join(","), "*"));
</script></body></html>"""


TABS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tokenauth tab</title></head><body>
<script type="module">
// One tab of tests/test_browser_tabs.py: the test drives window.auth and reads what fired.
import { TokenAuthClient } from "/static/tokenauth/client.js";
window.callbacks = [];
window.events = [];
window.auth = new TokenAuthClient({
  baseUrl: "/auth/",
  onSessionEnd: ({ reason }) => callbacks.push(reason),
});
auth.addEventListener("sessionend", (event) => events.push(event.detail.reason));
window.ready = true;
</script></body></html>"""


def browser_page(request):  # type: ignore[no-untyped-def]
    return HttpResponse(BROWSER_PAGE)


def attack_page(request):  # type: ignore[no-untyped-def]
    return HttpResponse(ATTACK_PAGE)


def tabs_page(request):  # type: ignore[no-untyped-def]
    return HttpResponse(TABS_PAGE)


urlpatterns = [
    path("browser/", browser_page),
    path("attack/", attack_page),
    path("tabs/", tabs_page),
    path("admin/", admin.site.urls),
    path("auth/", include("tokenauth.urls")),
    path("api/me/", MeView.as_view()),
    path("api/whoami/", WhoAmIView.as_view()),
    path("api/password/", PasswordView.as_view()),
]
