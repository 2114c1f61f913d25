// dpop: true (RFC 9449, DESIGN §8) against a scripted server: which requests carry a proof,
// what the proof says, and the nonce retries. Node has WebCrypto and no IndexedDB (the key
// lives in memory here); tests/test_browser_dpop.py has the browser, IndexedDB and the server.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TokenAuthClient, TokenAuthError } from "../../tokenauth/static/tokenauth/client.js";
import { json, server } from "./scripted_server.mjs";

delete globalThis.BroadcastChannel; // one page on its own (see client.test.mjs)

const client = (fetchImpl, options = {}) =>
  new TokenAuthClient({ baseUrl: "http://app.test/auth/", fetch: fetchImpl, dpop: true, ...options });
const bound = (n) => ({ access_token: `access-${n}`, token_type: "DPoP", expires_in: 900 });

const b64 = (text) => Buffer.from(text, "base64url");
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");

// The proof's header and claims, once its signature verifies with the jwk it carries.
async function verified(proof) {
  const [header, payload, signature] = proof.split(".");
  const parsed = { header: JSON.parse(b64(header)), claims: JSON.parse(b64(payload)) };
  const key = await crypto.subtle.importKey(
    "jwk", parsed.header.jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"],
  );
  const valid = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" }, key, b64(signature), new TextEncoder().encode(`${header}.${payload}`),
  );
  assert.ok(valid, "the proof's signature verifies with its jwk");
  return parsed;
}

const dpopOf = (request) => request.headers.get("DPoP");

test("login and refresh carry a proof signed by one public P-256 key", async () => {
  let n = 0;
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, bound(++n)),
    "/auth/refresh/": () => json(200, bound(++n)),
  });
  const auth = client(fetchImpl);
  const before = Math.floor(Date.now() / 1000);

  await auth.login({ username: "u", password: "p" });
  await auth.refresh();

  const [login, refresh] = await Promise.all(seen.map((r) => verified(dpopOf(r))));
  assert.deepEqual(login.header, { typ: "dpop+jwt", alg: "ES256", jwk: login.header.jwk });
  assert.deepEqual(Object.keys(login.header.jwk).sort(), ["crv", "kty", "x", "y"]); // no "d"
  assert.equal(login.header.jwk.crv, "P-256");
  assert.deepEqual(refresh.header.jwk, login.header.jwk);
  assert.equal(login.claims.htm, "POST");
  assert.equal(login.claims.htu, "http://app.test/auth/login/");
  assert.equal(refresh.claims.htu, "http://app.test/auth/refresh/");
  assert.ok(login.claims.iat >= before && login.claims.iat <= Date.now() / 1000);
  assert.notEqual(login.claims.jti, refresh.claims.jti);
  assert.equal(login.claims.ath, undefined); // no access token on a token request
});

test("auth.fetch() sends the DPoP scheme and a proof with the token's ath", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, bound(1)),
    "/api/items/": () => json(200, {}),
  });
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  await auth.fetch("http://app.test/api/items/?page=2#top");
  await auth.fetch("http://app.test/api/items/", { method: "delete" });
  // fetch() upper-cases six method names only: "patch" goes out as "patch", and htm says so.
  await auth.fetch(new Request("http://app.test/api/items/", { method: "patch", body: "{}" }));

  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("access-1"));
  const proofs = await Promise.all(seen.slice(1).map((r) => verified(dpopOf(r))));
  assert.deepEqual(seen.slice(1).map((r) => r.auth), Array(3).fill("DPoP access-1"));
  assert.deepEqual(proofs.map((p) => p.claims.ath), Array(3).fill(b64url(digest)));
  assert.deepEqual(proofs.map((p) => p.claims.htm), ["GET", "DELETE", "patch"]);
  assert.equal(proofs[0].claims.htu, "http://app.test/api/items/"); // no query, no fragment
});

test("a Bearer token_type (a server with DPoP off) is sent as Bearer, without a proof", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, { ...bound(1), token_type: "Bearer" }),
    "/api/me/": () => json(200, {}),
  });
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  await auth.fetch("http://app.test/api/me/");

  assert.equal(seen[1].auth, "Bearer access-1");
  assert.equal(dpopOf(seen[1]), null);
});

const askForNonce = (nonce) =>
  new Response(JSON.stringify({ error: "use_dpop_nonce", error_description: "nonce" }), {
    status: 400,
    headers: { "Content-Type": "application/json", "DPoP-Nonce": nonce },
  });

test("use_dpop_nonce at login: one retry with the server's nonce", async () => {
  let calls = 0;
  const { fetchImpl, seen } = server({
    "/auth/login/": () => (++calls === 1 ? askForNonce("n-1") : json(200, bound(1))),
  });
  const auth = client(fetchImpl);

  await auth.login({ username: "u", password: "p" });

  const [first, second] = await Promise.all(seen.map((r) => verified(dpopOf(r))));
  assert.equal(seen.length, 2);
  assert.equal(first.claims.nonce, undefined);
  assert.equal(second.claims.nonce, "n-1");
  assert.notEqual(first.claims.jti, second.claims.jti);
  assert.equal(seen[1].body, seen[0].body); // the same credentials, sent again
});

test("the nonce of one response goes with the next request without a retry", async () => {
  const withNonce = (body, nonce) => {
    const response = json(200, body);
    response.headers.set("DPoP-Nonce", nonce);
    return response;
  };
  const { fetchImpl, seen } = server({
    "/auth/login/": () => withNonce(bound(1), "n-1"),
    "/auth/refresh/": () => withNonce(bound(2), "n-2"),
  });
  const auth = client(fetchImpl);

  await auth.login({ username: "u", password: "p" });
  await auth.refresh();

  assert.equal(seen.length, 2);
  assert.equal((await verified(dpopOf(seen[1]))).claims.nonce, "n-1");
});

test("a server that keeps asking for a new nonce gets one retry, not a loop", async () => {
  let n = 0;
  const { fetchImpl, seen } = server({ "/auth/login/": () => askForNonce(`n-${++n}`) });
  const auth = client(fetchImpl);

  await assert.rejects(auth.login({ username: "u", password: "p" }), (error) => {
    assert.ok(error instanceof TokenAuthError);
    assert.equal(error.error, "use_dpop_nonce");
    return true;
  });
  assert.equal(seen.length, 2);
});

test("another 400 with a DPoP-Nonce is no reason to send the request again", async () => {
  const { fetchImpl, seen } = server({
    "/auth/refresh/": () => {
      const response = json(400, { error: "invalid_grant" });
      response.headers.set("DPoP-Nonce", "n-1");
      return response;
    },
  });
  const auth = client(fetchImpl);

  await assert.rejects(auth.refresh(), /HTTP 400|invalid_grant/);
  assert.equal(seen.length, 1); // a spent refresh token is never sent twice
});

test("a resource's use_dpop_nonce challenge: one retry with its nonce", async () => {
  let calls = 0;
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, bound(1)),
    "/api/me/": () => (++calls === 1
      ? new Response(null, {
          status: 401,
          headers: {
            "WWW-Authenticate": 'DPoP error="use_dpop_nonce", error_description="nonce"',
            "DPoP-Nonce": "r-1",
          },
        })
      : json(200, { ok: true })),
  });
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  const response = await auth.fetch(new Request("http://app.test/api/me/", { method: "POST", body: "x" }));

  assert.equal(response.status, 200);
  assert.deepEqual(seen.map((r) => r.path), ["/auth/login/", "/api/me/", "/api/me/"]);
  assert.equal(seen[2].body, "x"); // a Request's body is sent again from its clone
  assert.equal((await verified(dpopOf(seen[2]))).claims.nonce, "r-1");
});

test("logout deletes the key: the next login proves another one", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, bound(1)),
    "/auth/logout/": () => new Response(null, { status: 204 }),
  });
  const auth = client(fetchImpl);

  await auth.login({ username: "u", password: "p" });
  await auth.logout();
  await auth.login({ username: "u", password: "p" });

  const logins = seen.filter((r) => r.path === "/auth/login/");
  const [before, after] = await Promise.all(logins.map((r) => verified(dpopOf(r))));
  assert.notDeepEqual(after.header.jwk, before.header.jwk);
  assert.equal(dpopOf(seen.find((r) => r.path === "/auth/logout/")), null); // logout needs none
});

test("without dpop no request carries a proof", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, bound(1)),
    "/api/me/": () => json(200, {}),
  });
  const auth = client(fetchImpl, { dpop: false });

  await auth.login({ username: "u", password: "p" });
  await auth.fetch("http://app.test/api/me/");

  assert.deepEqual(seen.map(dpopOf), [null, null]);
  assert.equal(seen[1].auth, "Bearer access-1"); // a DPoP token_type it cannot prove: Bearer
});
