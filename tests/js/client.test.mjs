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

// A scripted server for every origin: routes by path (an unknown path is a 404); records every
// request it sees. Relative URLs resolve as a browser's fetch would: against the page.
function server(routes) {
  const seen = [];
  const fetchImpl = async (input, init = {}) => {
    const request = input instanceof Request
      ? new Request(input, init)
      : new Request(new URL(input, globalThis.location?.href ?? "http://app.test"), init);
    const { origin, pathname: path } = new URL(request.url);
    const body = request.method === "POST" ? await request.text() : null;
    const { headers } = request;
    seen.push({ origin, path, auth: headers.get("Authorization"), body, headers });
    return (routes[path] ?? (() => json(404, {})))(request, seen);
  };
  return { fetchImpl, seen };
}

// The client under test, its auth endpoints on http://app.test (node has no page to resolve
// a relative baseUrl against).
const client = (fetchImpl, options = {}) =>
  new TokenAuthClient({ baseUrl: "http://app.test/auth/", fetch: fetchImpl, ...options });

// Run ``body`` as if on a page at ``href``; ``baseURI`` stands for a <base> element.
async function onPage(href, body, { baseURI } = {}) {
  const define = (name, value) =>
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  define("location", new URL(href));
  if (baseURI) define("document", { baseURI });
  try {
    return await body();
  } finally {
    delete globalThis.location;
    delete globalThis.document;
  }
}

test("concurrent refreshes share one request", async () => {
  let n = 0;
  const { fetchImpl, seen } = server({ "/auth/refresh/": () => json(200, pair(++n)) });
  const auth = client(fetchImpl);

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
  const auth = client(fetchImpl);
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
  const auth = client(fetchImpl);
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
  const auth = client(fetchImpl);

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
  const auth = client(fetchImpl);
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
  const auth = client(fetchImpl);
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
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  await assert.rejects(auth.logout(), (error) => error.status === 503 && error.error === "temporarily_unavailable");
  assert.equal(auth.isAuthenticated, false);
});

test("a refused login throws the server's RFC error", async () => {
  const { fetchImpl } = server({ "/auth/login/": () => json(400, { error: "invalid_grant" }) });
  const auth = client(fetchImpl);

  await assert.rejects(auth.login({ username: "u", password: "bad" }), (error) => error.error === "invalid_grant");
  assert.equal(auth.isAuthenticated, false);
});

// The access token goes to the page's origin, baseUrl's and the apiOrigins only (DESIGN §12).

const API = "https://api.example.com";
const loggedIn = async (fetchImpl, options) => {
  const auth = client(fetchImpl, options);
  await auth.login({ username: "u", password: "p" });
  return auth;
};
const anyApi = (request) => json(request.headers.get("Authorization") ? 200 : 401, {});

test("a URL of another origin gets no token, and its 401 no refresh", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/refresh/": () => json(200, pair(2)),
    "/x/": anyApi,
  });
  const auth = await loggedIn(fetchImpl, { apiOrigins: [API] });

  const response = await auth.fetch("https://elsewhere.test/x/", { headers: { "X-Kept": "1" } });

  assert.equal(response.status, 401);
  assert.deepEqual(seen.map((r) => [r.origin, r.path, r.auth]), [
    ["http://app.test", "/auth/login/", null],
    ["https://elsewhere.test", "/x/", null],
  ]);
  assert.equal(seen[1].headers.get("X-Kept"), "1"); // forwarded as given
});

test("the page's origin, baseUrl's and a listed apiOrigin get the token", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)), "/x/": anyApi });

  await onPage("https://page.test/app/", async () => {
    const auth = await loggedIn(fetchImpl, { apiOrigins: [API] });
    const urls = ["/x/", "../x/", "https://page.test/x/", "http://app.test/x/", `${API}/x/`];
    for (const url of [...urls, new URL(`${API}/x/`)]) {
      assert.equal((await auth.fetch(url)).status, 200, String(url));
    }
  });

  assert.deepEqual(seen.slice(1).map((r) => [r.origin, r.auth]), [
    ["https://page.test", "Bearer access-1"],
    ["https://page.test", "Bearer access-1"],
    ["https://page.test", "Bearer access-1"],
    ["http://app.test", "Bearer access-1"],
    [API, "Bearer access-1"],
    [API, "Bearer access-1"],
  ]);
});

test("a Request object is judged by its own URL", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)), "/x/": anyApi });
  const auth = await loggedIn(fetchImpl, { apiOrigins: [API] });

  await auth.fetch(new Request("https://elsewhere.test/x/", { headers: { "X-Kept": "1" } }));
  await auth.fetch(new Request(`${API}/x/`));

  assert.deepEqual(seen.slice(1).map((r) => [r.origin, r.auth]), [
    ["https://elsewhere.test", null],
    [API, "Bearer access-1"],
  ]);
  assert.equal(seen[1].headers.get("X-Kept"), "1");
});

test("lookalike origins get no token", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)), "/x/": anyApi });
  const lookalikes = [
    "https://api.example.com.evil.test/x/", // our origin as a prefix of another host
    "https://api.example.com:8443/x/", // another port
    "http://api.example.com/x/", // another scheme
    "https://evil.test/https://api.example.com/x/", // our origin in the path
    "https://evil.test/x/?next=https://api.example.com", // and in the query
    "https://api.example.com./x/", // a trailing dot: another origin string
    "//evil.test/x/", // scheme-relative
    "https://app.test/x/", // baseUrl's host on another scheme
  ];

  await onPage("http://app.test/page", async () => {
    const auth = await loggedIn(fetchImpl, { apiOrigins: [API] });
    for (const url of lookalikes) {
      await auth.fetch(url);
    }
  });

  assert.equal(seen.length, 1 + lookalikes.length);
  assert.deepEqual(seen.slice(1).map((r) => r.auth), lookalikes.map(() => null));
});

test("a <base> pointing elsewhere sends relative URLs, and so no token, elsewhere", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)), "/x/": anyApi });

  await onPage("https://page.test/app/", async () => {
    const auth = await loggedIn(fetchImpl);
    await auth.fetch("/x/", {});
  }, { baseURI: "https://cdn.test/" });

  // (The scripted server resolves against location, not <base>: only the header matters.)
  assert.equal(seen.at(-1).auth, null);
});

test("apiOrigins are normalised to origins, and a malformed one throws at construction", () => {
  const { fetchImpl } = server({});
  assert.doesNotThrow(() => client(fetchImpl, { apiOrigins: ["https://API.example.com:443/v1/"] }));
  for (const bad of ["api.example.com", "", "javascript:alert(1)", "data:text/plain,x", 42, null]) {
    assert.throws(
      () => client(fetchImpl, { apiOrigins: [bad] }),
      (error) =>
        error instanceof TypeError && /apiOrigins entry .* is not an origin/.test(error.message),
      String(bad),
    );
  }
  assert.throws(() => client(fetchImpl, { apiOrigins: API }), /apiOrigins must be an array/);
});

test("a normalised apiOrigin matches its URLs", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)), "/x/": anyApi });
  const auth = await loggedIn(fetchImpl, { apiOrigins: ["https://API.example.com:443/v1/"] });

  await auth.fetch("https://api.example.com/x/");

  assert.equal(seen.at(-1).auth, "Bearer access-1");
});

test("outside a page, a relative URL and a relative baseUrl place nothing: no token", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)), "/x/": anyApi });
  const auth = new TokenAuthClient({ baseUrl: "/auth/", fetch: fetchImpl });
  await auth.login({ username: "u", password: "p" });

  await auth.fetch("/x/");

  assert.equal(seen.at(-1).auth, null);
});
