// Unit tests of the browser client's own logic, under node's test runner, against a scripted
// server (the real server is exercised in headless Chromium by tests/test_browser.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { TokenAuthClient, TokenAuthError } from "../../tokenauth/static/tokenauth/client.js";
import { clock, json, pair, server } from "./scripted_server.mjs";

// One page on its own, as in a browser without BroadcastChannel and Web Locks (node has no
// navigator.locks); tabs.test.mjs has the tabs. It also keeps these tests' clients, which
// share a baseUrl, from hearing each other.
delete globalThis.BroadcastChannel;

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

// Renewal, the end of a session, restore() and logoutAll() (DESIGN §12).

const short = (n, expiresIn) => ({ ...pair(n), expires_in: expiresIn });

test("a short-lived token is renewed after 80% of its life, not before every call", async (t) => {
  const time = clock();
  t.after(time.restore);
  let n = 1;
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, short(1, 5)),
    "/auth/refresh/": () => json(200, short(++n, 5)),
    "/api/me/": anyApi,
  });
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  await auth.fetch("/api/me/");
  time.advance(3999);
  await auth.fetch("/api/me/");
  time.advance(1);
  await auth.fetch("/api/me/");

  assert.deepEqual(seen.map((r) => [r.path, r.auth]), [
    ["/auth/login/", null],
    ["/api/me/", "Bearer access-1"],
    ["/api/me/", "Bearer access-1"],
    ["/auth/refresh/", null],
    ["/api/me/", "Bearer access-2"],
  ]);
  assert.equal(auth.expiresAt, Date.now() + 5000);
});

test("a long-lived token is renewed a minute before it expires, at most", async (t) => {
  const time = clock();
  t.after(time.restore);
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, short(1, 3600)),
    "/auth/refresh/": () => json(200, short(2, 3600)),
    "/api/me/": anyApi,
  });
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  time.advance(3539_000);
  await auth.fetch("/api/me/");
  time.advance(1000);
  await auth.fetch("/api/me/");

  assert.deepEqual(seen.map((r) => r.auth ?? r.path), [
    "/auth/login/", "Bearer access-1", "/auth/refresh/", "Bearer access-2",
  ]);
});

test("a refused refresh ends the session once: onSessionEnd, one sessionend, no more refreshes", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/refresh/": () => json(400, { error: "invalid_grant" }),
    "/api/me/": () => json(401, { detail: "revoked" }),
  });
  const ended = [];
  const auth = client(fetchImpl, { onSessionEnd: (detail) => ended.push(["callback", detail]) });
  auth.addEventListener("sessionend", (event) => ended.push(["event", event.detail]));
  await auth.login({ username: "u", password: "p" });

  const responses = [await auth.fetch("/api/me/"), await auth.fetch("/api/me/"), await auth.fetch("/api/me/")];

  assert.deepEqual(responses.map((r) => r.status), [401, 401, 401]);
  assert.deepEqual(ended, [["callback", { reason: "invalid_grant" }], ["event", { reason: "invalid_grant" }]]);
  assert.deepEqual(seen.map((r) => [r.path, r.auth]), [
    ["/auth/login/", null],
    ["/api/me/", "Bearer access-1"],
    ["/auth/refresh/", null],
    ["/api/me/", null], // the API's own 401: no token, no refresh
    ["/api/me/", null],
  ]);
});

test("without a session, only the first fetch looks for one, and nothing fires", async () => {
  const { fetchImpl, seen } = server({
    "/auth/refresh/": () => json(400, { error: "invalid_request" }),
    "/api/me/": () => json(401, {}),
  });
  const auth = client(fetchImpl);
  let fired = 0;
  auth.addEventListener("sessionend", () => fired++);

  await auth.fetch("/api/me/");
  await auth.fetch("/api/me/");

  assert.deepEqual(seen.map((r) => r.path), ["/auth/refresh/", "/api/me/", "/api/me/"]);
  assert.equal(fired, 0);
});

test("a 503 on renewal keeps the token that still works, and the session", async (t) => {
  const time = clock();
  t.after(time.restore);
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, short(1, 100)),
    "/auth/refresh/": () => json(503, { error: "temporarily_unavailable" }),
    "/api/me/": anyApi,
  });
  const auth = client(fetchImpl);
  let fired = 0;
  auth.addEventListener("sessionend", () => fired++);
  await auth.login({ username: "u", password: "p" });
  time.advance(90_000);

  const response = await auth.fetch("/api/me/");

  assert.equal(response.status, 200);
  assert.deepEqual(seen.map((r) => r.auth ?? r.path), ["/auth/login/", "/auth/refresh/", "Bearer access-1"]);
  assert.equal(auth.isAuthenticated, true);
  assert.equal(fired, 0);
});

test("restore() resolves true with a session, false without one or offline, and never rejects", async () => {
  const answers = [json(200, pair(1)), json(400, { error: "invalid_grant" })];
  const { fetchImpl } = server({ "/auth/refresh/": () => answers.shift() });
  const offline = async () => {
    throw new TypeError("Failed to fetch");
  };

  assert.equal(await client(fetchImpl).restore(), true);
  assert.equal(await client(fetchImpl).restore(), false);
  assert.equal(await client(offline).restore(), false);
});

test("restore() with a fresh token in memory asks nothing", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)) });
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  assert.equal(await auth.restore(), true);
  assert.equal(seen.length, 1);
});

test("logoutAll() sends the access token to logout-all/, then clears the cookie with logout/", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/logout-all/": (request) => new Response(null, { status: request.headers.get("Authorization") ? 204 : 401 }),
    "/auth/logout/": () => new Response(null, { status: 204 }),
  });
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  await auth.logoutAll();

  assert.deepEqual(seen.map((r) => [r.path, r.auth]), [
    ["/auth/login/", null],
    ["/auth/logout-all/", "Bearer access-1"],
    ["/auth/logout/", null],
  ]);
  assert.equal(auth.isAuthenticated, false);
});

test("a refused logoutAll() throws the server's error", async () => {
  const { fetchImpl, seen } = server({
    "/auth/login/": () => json(200, pair(1)),
    "/auth/logout-all/": () => json(401, { detail: "revoked" }),
  });
  const auth = client(fetchImpl);
  await auth.login({ username: "u", password: "p" });

  await assert.rejects(auth.logoutAll(), (error) => error instanceof TokenAuthError && error.status === 401);
  assert.deepEqual(seen.map((r) => r.path), ["/auth/login/", "/auth/logout-all/"]);
});

// Credentials: the refresh cookie must travel to a baseUrl on another origin (DESIGN §12).

test("token requests are credentialed when baseUrl is another origin, same-origin otherwise", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)) });

  await onPage("http://localhost:5173/", async () => {
    await new TokenAuthClient({ baseUrl: "/auth/", fetch: fetchImpl }).login({});
    await new TokenAuthClient({ baseUrl: "http://localhost:5173/auth/", fetch: fetchImpl }).login({});
    await new TokenAuthClient({ baseUrl: "http://localhost:8000/auth/", fetch: fetchImpl }).login({});
    await new TokenAuthClient({ baseUrl: "https://localhost:5173/auth/", fetch: fetchImpl }).login({});
  });

  assert.deepEqual(seen.map((r) => [r.origin, r.credentials]), [
    ["http://localhost:5173", "same-origin"],
    ["http://localhost:5173", "same-origin"],
    ["http://localhost:8000", "include"],
    ["https://localhost:5173", "include"],
  ]);
});

test("auth.fetch() leaves the caller's credentials alone", async () => {
  const { fetchImpl, seen } = server({ "/auth/login/": () => json(200, pair(1)), "/x/": anyApi });

  await onPage("http://localhost:5173/", async () => {
    const auth = new TokenAuthClient({ baseUrl: "http://localhost:8000/auth/", fetch: fetchImpl });
    await auth.login({});
    await auth.fetch("http://localhost:8000/x/");
    await auth.fetch("http://localhost:8000/x/", { credentials: "omit" });
  });

  assert.deepEqual(seen.slice(1).map((r) => [r.auth, r.credentials]), [
    ["Bearer access-1", "same-origin"], // fetch()'s own default
    ["Bearer access-1", "omit"],
  ]);
});

test("bad options throw at construction", () => {
  const { fetchImpl } = server({});
  assert.throws(() => client(fetchImpl, { dpop: "yes" }), /dpop must be true or false/);
  assert.throws(() => client(fetchImpl, { onSessionEnd: "reload" }), /onSessionEnd must be a function/);
  assert.doesNotThrow(() => client(fetchImpl, { dpop: false, onSessionEnd: undefined }));
});

test("restore() sends no request in a browser that has had no session, and one after a login", async () => {
  const store = new Map();
  globalThis.localStorage = {
    getItem: (key) => (store.has(key) ? store.get(key) : null),
    setItem: (key, value) => store.set(key, String(value)),
    removeItem: (key) => store.delete(key),
  };
  try {
    const { fetchImpl, seen } = server({
      "/auth/login/": () => json(200, pair(1)),
      "/auth/refresh/": () => json(200, pair(2)),
      "/auth/logout/": () => json(204),
    });
    const baseUrl = "http://app.test/auth/";
    assert.equal(await new TokenAuthClient({ baseUrl, fetch: fetchImpl }).restore(), false);
    assert.deepEqual(seen, []);

    await new TokenAuthClient({ baseUrl, fetch: fetchImpl }).login({ username: "u", password: "p" });
    assert.equal([...store.values()].join(), "1"); // a hint only: no token in storage
    const reloaded = new TokenAuthClient({ baseUrl, fetch: fetchImpl });
    assert.equal(await reloaded.restore(), true);
    assert.equal(seen.at(-1).path, "/auth/refresh/");

    await reloaded.logout();
    const count = seen.length;
    assert.equal(await new TokenAuthClient({ baseUrl, fetch: fetchImpl }).restore(), false);
    assert.equal(seen.length, count);
  } finally {
    delete globalThis.localStorage;
  }
});

test("restore() asks the server when storage throws (blocked), as without storage", async () => {
  globalThis.localStorage = {
    getItem: () => {
      throw new Error("SecurityError");
    },
    setItem: () => {
      throw new Error("SecurityError");
    },
    removeItem: () => {
      throw new Error("SecurityError");
    },
  };
  try {
    const { fetchImpl, seen } = server({ "/auth/refresh/": () => json(200, pair(1)) });
    const client = new TokenAuthClient({ baseUrl: "http://app.test/auth/", fetch: fetchImpl });
    assert.equal(await client.restore(), true);
    assert.deepEqual(seen.map((r) => r.path), ["/auth/refresh/"]);
  } finally {
    delete globalThis.localStorage;
  }
});
