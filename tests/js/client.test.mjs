// Unit tests of the browser client's own logic, under node's test runner, against a scripted
// server (the real server is exercised in headless Chromium by tests/test_browser.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { TokenAuthClient, TokenAuthError } from "../../tokenauth/static/tokenauth/client.js";

const json = (status, body) =>
  new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
const pair = (n) => ({ access_token: `access-${n}`, token_type: "Bearer", expires_in: 900 });

// A scripted server: routes by path; records every request it sees.
function server(routes) {
  const seen = [];
  const fetchImpl = async (input, init = {}) => {
    const request = input instanceof Request
      ? new Request(input, init)
      : new Request(new URL(input, "http://app.test"), init);
    const path = new URL(request.url).pathname;
    const body = request.method === "POST" ? await request.text() : null;
    seen.push({ path, auth: request.headers.get("Authorization"), body, headers: request.headers });
    return routes[path](request, seen);
  };
  return { fetchImpl, seen };
}

test("concurrent refreshes share one request", async () => {
  let n = 0;
  const { fetchImpl, seen } = server({ "/auth/refresh/": () => json(200, pair(++n)) });
  const auth = new TokenAuthClient({ fetch: fetchImpl });

  const [a, b] = await Promise.all([auth.refresh(), auth.refresh()]);

  assert.equal(a, b);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers.get("X-Requested-With"), "XMLHttpRequest");
});

test("a 401 refreshes once and retries with the new token", async () => {
  let calls = 0;
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/refresh/": () => json(200, pair(2)),
    "/api/me/": (request) => (request.headers.get("Authorization") === "Bearer access-2"
      ? json(200, { ok: ++calls })
      : json(401, { detail: "expired" })),
  });
  const auth = new TokenAuthClient({ fetch: fetchImpl });
  await auth.login({ username: "u", password: "p" });

  const response = await auth.fetch("/api/me/");

  assert.equal(response.status, 200);
  assert.deepEqual(seen.map((r) => r.path), ["/auth/login/", "/api/me/", "/auth/refresh/", "/api/me/"]);
});

test("a failed refresh after a 401 returns the 401 response", async () => {
  const { fetchImpl } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/refresh/": () => json(400, { error: "invalid_grant" }),
    "/api/me/": () => json(401, { detail: "revoked" }),
  });
  const auth = new TokenAuthClient({ fetch: fetchImpl });
  await auth.login({ username: "u", password: "p" });

  const response = await auth.fetch("/api/me/");

  assert.equal(response.status, 401);
  assert.equal(auth.isAuthenticated, false);
});

test("an anonymous fetch tries one refresh, then lets the API answer", async () => {
  const { fetchImpl, seen } = server({
    "/auth/refresh/": () => json(400, { error: "invalid_request" }),
    "/api/me/": () => json(401, { detail: "no credentials" }),
  });
  const auth = new TokenAuthClient({ fetch: fetchImpl });

  const response = await auth.fetch("/api/me/");

  assert.equal(response.status, 401);
  assert.deepEqual(seen.map((r) => r.path), ["/auth/refresh/", "/api/me/"]);
});

test("a Request with a body is cloned for the retry, its headers kept", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/refresh/": () => json(200, pair(2)),
    "/api/items/": (request) => (request.headers.get("Authorization") === "Bearer access-2"
      ? json(201, {})
      : json(401, {})),
  });
  const auth = new TokenAuthClient({ fetch: fetchImpl });
  await auth.login({ username: "u", password: "p" });
  const request = new Request("http://app.test/api/items/", {
    method: "POST", body: '{"name": "x"}', headers: { "X-Custom": "kept" },
  });

  const response = await auth.fetch(request);

  assert.equal(response.status, 201);
  const retried = seen.at(-1);
  assert.equal(retried.body, '{"name": "x"}');
  assert.equal(retried.headers.get("X-Custom"), "kept");
});

test("logout waits for a refresh in flight and drops its result", async () => {
  let release;
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/refresh/": () => new Promise((resolve) => { release = () => resolve(json(200, pair(2))); }),
    "/auth/logout/": () => new Response(null, { status: 204 }),
  });
  const auth = new TokenAuthClient({ fetch: fetchImpl });
  await auth.login({ username: "u", password: "p" });
  const pending = auth.refresh().catch((error) => error);
  await new Promise((resolve) => setTimeout(resolve, 0));

  const loggingOut = auth.logout();
  release();
  await loggingOut;

  assert.equal(auth.isAuthenticated, false);
  assert.ok((await pending) instanceof TokenAuthError);
  assert.deepEqual(seen.map((r) => r.path), ["/auth/login/", "/auth/refresh/", "/auth/logout/"]);
});

test("a logout the server refused throws, and the access token is gone anyway", async () => {
  const { fetchImpl } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/logout/": () => json(503, { error: "temporarily_unavailable" }),
  });
  const auth = new TokenAuthClient({ fetch: fetchImpl });
  await auth.login({ username: "u", password: "p" });

  await assert.rejects(auth.logout(), (error) => error.status === 503 && error.error === "temporarily_unavailable");
  assert.equal(auth.isAuthenticated, false);
});

test("a refused login throws the server's RFC error", async () => {
  const { fetchImpl } = server({ "/auth/login/": () => json(400, { error: "invalid_grant" }) });
  const auth = new TokenAuthClient({ fetch: fetchImpl });

  await assert.rejects(auth.login({ username: "u", password: "bad" }), (error) => error.error === "invalid_grant");
  assert.equal(auth.isAuthenticated, false);
});
