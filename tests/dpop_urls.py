"""A stand-in DPoP server for tests/test_browser_dpop.py: token and resource views that check
the browser client's proofs with ``tokenauth.dpop.check_proof`` (the real endpoints' DPoP
comes with the service integration; these views only bind a key and check it)."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from tests.urls import urlpatterns as test_urlpatterns
from tokenauth.dpop import DPoPProofError, check_proof, current_nonce

# What the views saw, for the test to read: the live server's threads share this process.
LOCK = threading.Lock()
STATE: dict[str, Any] = {}


def reset() -> None:
    with LOCK:
        STATE.clear()
        STATE.update(bound_jkt=None, tokens={}, log=[], proofs=[], errors=[])


reset()


def _proof(
    request: HttpRequest, *, access_token: str | None, expected_jkt: str | None, require_nonce: bool
) -> tuple[str | None, DPoPProofError | None]:
    proof = request.headers.get("DPoP")
    with LOCK:
        STATE["proofs"].append(proof)
    if proof is None:
        return None, DPoPProofError("A DPoP proof is required.")
    try:
        checked = check_proof(
            proof,
            method=request.method or "",
            url=request.build_absolute_uri(),
            access_token=access_token,
            expected_jkt=expected_jkt,
            require_nonce=require_nonce,
            now=timezone.now(),
        )
    except DPoPProofError as error:
        with LOCK:
            STATE["errors"].append(error.description)
        return None, error
    return checked.jkt, None


def _log(entry: str) -> None:
    with LOCK:
        STATE["log"].append(entry)


def _token_error(view: str, error: DPoPProofError) -> JsonResponse:
    _log(f"{view}:{error.error}")
    response = JsonResponse(
        {"error": error.error, "error_description": error.description}, status=400
    )
    if error.nonce:
        response["DPoP-Nonce"] = error.nonce
    return response


def _tokens(jkt: str) -> JsonResponse:
    access_token = secrets.token_urlsafe(24)
    with LOCK:
        STATE["bound_jkt"] = jkt
        STATE["tokens"][access_token] = jkt
    response = JsonResponse(
        {"access_token": access_token, "token_type": "DPoP", "expires_in": 900},
        headers={"Cache-Control": "no-store"},
    )
    response["DPoP-Nonce"] = current_nonce(timezone.now())
    return response


@csrf_exempt
def login(request: HttpRequest) -> HttpResponse:
    """Binds the session to the first valid proof's key; nonces on, as DPOP_NONCE: True."""
    jkt, error = _proof(request, access_token=None, expected_jkt=None, require_nonce=True)
    if error is not None or jkt is None:
        return _token_error("login", error or DPoPProofError("no proof"))
    _log("login:ok")
    return _tokens(jkt)


@csrf_exempt
def refresh(request: HttpRequest) -> HttpResponse:
    """A bound session refreshes with its own key only."""
    bound = STATE["bound_jkt"]
    if bound is None:
        _log("refresh:invalid_grant")
        return JsonResponse({"error": "invalid_grant"}, status=400)
    jkt, error = _proof(request, access_token=None, expected_jkt=bound, require_nonce=True)
    if error is not None or jkt is None:
        return _token_error("refresh", error or DPoPProofError("no proof"))
    _log("refresh:ok")
    return _tokens(jkt)


@csrf_exempt
def logout(request: HttpRequest) -> HttpResponse:
    with LOCK:
        STATE["bound_jkt"] = None
    _log("logout")
    return HttpResponse(status=204)


def me(request: HttpRequest) -> HttpResponse:
    scheme, _, access_token = request.headers.get("Authorization", "").partition(" ")
    jkt = STATE["tokens"].get(access_token)
    if scheme != "DPoP" or jkt is None:
        _log("me:invalid_token")
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'DPoP algs="ES256", error="invalid_token"'
        return response
    _, error = _proof(request, access_token=access_token, expected_jkt=jkt, require_nonce=False)
    if error is not None:
        _log(f"me:{error.error}")
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = f'DPoP algs="ES256", error="{error.error}"'
        return response
    _log("me:ok")
    return JsonResponse({"jkt": jkt})


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tokenauth dpop</title></head>
<body><pre id="result">running</pre>
<script type="module">
import { TokenAuthClient } from "/static/tokenauth/client.js";
const step = new URLSearchParams(location.search).get("step");
const log = [];
const auth = new TokenAuthClient({ baseUrl: "/dpop/auth/", dpop: true });
const stored = () => new Promise((resolve, reject) => {
  const open = indexedDB.open("tokenauth-dpop");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("keys")) { db.close(); resolve([]); return; }
    const all = db.transaction("keys").objectStore("keys").getAll();
    all.onsuccess = () => { db.close(); resolve(all.result); };
  };
});
try {
  if (step === "login") {
    await auth.login({ username: "u", password: "p" });
    log.push("me:" + (await auth.fetch("/dpop/api/me/?page=1")).status);
    const keys = await stored();
    log.push("stored-keys:" + keys.length);
    log.push("private-key-extractable:" + keys[0].privateKey.extractable);
    log.push("export:" + await crypto.subtle.exportKey("jwk", keys[0].privateKey).then(
      () => "exported", (e) => e.name));
  } else if (step === "reload") {
    log.push("restored:" + await auth.restore());
    log.push("me:" + (await auth.fetch("/dpop/api/me/")).status);
  } else if (step === "logout") {
    log.push("restored:" + await auth.restore());
    await auth.logout();
    log.push("stored-keys:" + (await stored()).length);
  }
} catch (e) { log.push("error:" + e); }
document.getElementById("result").textContent = JSON.stringify(log);
</script></body></html>"""


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE)


urlpatterns = [
    path("dpop/", page),
    path("dpop/auth/login/", login),
    path("dpop/auth/refresh/", refresh),
    path("dpop/auth/logout/", logout),
    path("dpop/api/me/", me),
    *test_urlpatterns,
]
