"""tests.urls plus the simplejwt contrib: its exchange URL, and a view that lists the transition
class before tokenauth's, as a project's DEFAULT_AUTHENTICATION_CLASSES would during the move
(DRF binds a view's classes when the view is defined, so overriding the setting would not do)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from tests.urls import MeView
from tests.urls import urlpatterns as base_urlpatterns
from tokenauth.authentication import AccessTokenAuthentication
from tokenauth.contrib.simplejwt.authentication import SimpleJWTTransitionAuthentication


class TransitionMeView(MeView):
    authentication_classes = [SimpleJWTTransitionAuthentication, AccessTokenAuthentication]


# docs/simplejwt.md's start-up snippet, as a browser app that kept simplejwt's tokens would run it.
MIGRATE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>moving over</title></head><body>
<script type="module">
import { TokenAuthClient } from "/static/tokenauth/client.js";
const auth = new TokenAuthClient({ baseUrl: "/auth/" });
window.migrate = async () => {
  const log = [];
  const old = localStorage.getItem("refresh");
  if (old) {
    const response = await fetch("/auth/simplejwt/exchange/", {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
      body: JSON.stringify({ refresh: old }),
    });
    log.push("exchange:" + response.status);
    log.push("body-has-refresh-token:" + ("refresh_token" in (await response.json())));
    if (response.ok || response.status === 400) {
      localStorage.removeItem("refresh");
      localStorage.removeItem("access");
    }
    if (response.ok) await auth.refresh();
  }
  const left = ["refresh", "access"].filter((key) => localStorage.getItem(key) !== null);
  log.push("simplejwt-tokens-left:" + left.length);
  log.push("cookie-readable-by-js:" + document.cookie.includes("tokenauth"));
  const me = await auth.fetch("/api/me/");
  log.push("me:" + me.status + ":" + (me.ok ? (await me.json()).username : ""));
  return log;
};
</script></body></html>"""


def migrate_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(MIGRATE_PAGE)


urlpatterns = [
    path("migrate/", migrate_page),
    *base_urlpatterns,
    path("auth/", include("tokenauth.contrib.simplejwt.urls")),
    path("api/transition/me/", TransitionMeView.as_view()),
]
