"""The page of tests/test_browser_dpop_endpoints.py: client.js with ``dpop: true`` against
tokenauth's own endpoints (the test project's URLs), one step per load."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from tests.urls import urlpatterns as test_urlpatterns

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tokenauth DPoP</title></head>
<body><pre id="result">running</pre>
<script type="module">
import { TokenAuthClient } from "/static/tokenauth/client.js";
const params = new URLSearchParams(location.search);
const step = params.get("step");
const log = [];
const auth = new TokenAuthClient({ baseUrl: "/auth/", dpop: true });
try {
  if (step === "login") {
    const body = await auth.login({ username: params.get("u"), password: params.get("p") });
    log.push("token_type:" + body.token_type);
    log.push("access_token:" + body.access_token);
    log.push("me:" + (await auth.fetch("/api/me/?page=1")).status);
  } else if (step === "reload") {
    log.push("restored:" + await auth.restore());
    log.push("me:" + (await auth.fetch("/api/me/")).status);
  } else if (step === "logout") {
    log.push("restored:" + await auth.restore());
    await auth.logout();
    log.push("authenticated:" + auth.isAuthenticated);
  }
} catch (e) { log.push("error:" + e); }
document.getElementById("result").textContent = JSON.stringify(log);
</script></body></html>"""


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE)


urlpatterns = [path("dpop-browser/", page), *test_urlpatterns]
