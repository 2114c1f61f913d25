// The client across tabs of one origin (DESIGN §12), under node's test runner: each "tab" is a
// client in this process. Node's BroadcastChannel is the real one (it reaches every channel of
// the name in the process); node has no Web Locks, so `locks` below is a small exclusive,
// first-come-first-served lock manager with the API's request(name, [options], callback). The
// real ones meet in headless Chromium in tests/test_browser_tabs.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TokenAuthClient } from "../../tokenauth/static/tokenauth/client.js";
import { clock, json, pair, server } from "./scripted_server.mjs";

class Locks {
  #queues = new Map();

  async request(name, options, callback) {
    if (typeof options === "function") [options, callback] = [{}, options];
    const queue = this.#queues.get(name) ?? [];
    this.#queues.set(name, queue);
    if (options.ifAvailable && queue.length > 0) return callback(null);
    let release;
    const mine = new Promise((resolve) => { release = resolve; });
    const before = queue.at(-1);
    queue.push(mine);
    await before;
    try {
      return await callback({ name, mode: "exclusive" });
    } finally {
      queue.shift();
      release();
    }
  }
}

let origins = 0;

// ``count`` tabs of a fresh origin (so no two tests hear each other) on one scripted server.
function tabs(t, count, routes, { withLocks = true } = {}) {
  const origin = `http://app${++origins}.test`;
  const locks = new Locks();
  const had = Object.getOwnPropertyDescriptor(globalThis, "navigator");
  if (withLocks) {
    Object.defineProperty(globalThis, "navigator", { value: { locks }, configurable: true });
  }
  const { fetchImpl, seen } = server(routes);
  const clients = Array.from({ length: count }, () => {
    const auth = new TokenAuthClient({ baseUrl: `${origin}/auth/`, fetch: fetchImpl });
    auth.ended = [];
    auth.addEventListener("sessionend", (event) => auth.ended.push(event.detail.reason));
    return auth;
  });
  if (had) Object.defineProperty(globalThis, "navigator", had);
  else delete globalThis.navigator;
  // A live timer: node's channels are unref'd, and a test waiting only on a message must not
  // see its process exit under it.
  const keepAlive = setInterval(() => undefined, 1000);
  t.after(() => {
    clearInterval(keepAlive);
    for (const auth of clients) auth.close();
  });
  return { clients, seen, origin };
}

// Messages between tabs arrive as tasks, some time later: wait for what they should bring.
async function until(predicate, what) {
  for (let i = 0; i < 500 && !predicate(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(predicate(), `never happened: ${what}`);
}
const allIn = (clients) => until(() => clients.every((auth) => auth.isAuthenticated), "every tab in");

const api = (request) =>
  json(request.headers.get("Authorization") === "Bearer access-2" ? 200 : 401, {});

async function loggedInTabs(t, count, routes, options) {
  const result = tabs(t, count, { "/auth/login/": () => json(200, pair(1)), ...routes }, options);
  await result.clients[0].login({ username: "u", password: "p" });
  await allIn(result.clients);
  return result;
}

test("a login in one tab reaches the others without a request", async (t) => {
  const { clients, seen } = await loggedInTabs(t, 3, {});

  assert.deepEqual(clients.map((auth) => auth.isAuthenticated), [true, true, true]);
  assert.deepEqual(new Set(clients.map((auth) => auth.expiresAt)).size, 1);
  assert.deepEqual(seen.map((r) => r.path), ["/auth/login/"]);
});

test("ten tabs whose token expired together cause one refresh/, and all their calls succeed", async (t) => {
  const time = clock();
  t.after(time.restore);
  let n = 1;
  const { clients, seen } = await loggedInTabs(t, 10, {
    "/auth/refresh/": () => json(200, pair(++n)),
    "/api/me/": api,
  });
  time.advance(900_000);

  const responses = await Promise.all(clients.map((auth) => auth.fetch("/api/me/")));

  assert.deepEqual(responses.map((r) => r.status), Array(10).fill(200));
  assert.equal(seen.filter((r) => r.path === "/auth/refresh/").length, 1);
  assert.equal(seen.filter((r) => r.path === "/api/me/").length, 10);
});

test("ten tabs restoring at once on page load: one refresh/", async (t) => {
  const { clients, seen } = tabs(t, 10, { "/auth/refresh/": () => json(200, pair(1)) });

  const restored = await Promise.all(clients.map((auth) => auth.restore()));

  assert.deepEqual(restored, Array(10).fill(true));
  assert.deepEqual(seen.map((r) => r.path), ["/auth/refresh/"]);
});

test("a logout in one tab ends the session in the others, once, and they stop refreshing", async (t) => {
  const { clients, seen } = await loggedInTabs(t, 4, {
    "/auth/logout/": () => new Response(null, { status: 204 }),
    "/auth/refresh/": () => json(400, { error: "invalid_grant" }),
    "/api/me/": () => json(401, {}),
  });
  const [first, ...others] = clients;

  await first.logout();
  await until(() => others.every((auth) => auth.ended.length), "every other tab ended");
  const responses = await Promise.all(others.map((auth) => auth.fetch("/api/me/")));

  assert.deepEqual(first.ended, []); // its own logout() call is its signal
  assert.deepEqual(others.map((auth) => auth.ended), [["logout"], ["logout"], ["logout"]]);
  assert.deepEqual(responses.map((r) => r.status), [401, 401, 401]);
  assert.deepEqual(seen.map((r) => [r.path, r.auth]), [
    ["/auth/login/", null],
    ["/auth/logout/", null],
    ["/api/me/", null],
    ["/api/me/", null],
    ["/api/me/", null],
  ]);
});

test("an invalid_grant in one tab's refresh ends the session in every tab exactly once", async (t) => {
  const time = clock();
  t.after(time.restore);
  const { clients, seen } = await loggedInTabs(t, 5, {
    "/auth/refresh/": () => json(400, { error: "invalid_grant" }),
    "/api/me/": () => json(401, {}),
  });
  time.advance(900_000);

  const first = await Promise.all(clients.map((auth) => auth.fetch("/api/me/")));
  const again = await Promise.all(clients.map((auth) => auth.fetch("/api/me/")));

  assert.deepEqual([...first, ...again].map((r) => r.status), Array(10).fill(401));
  assert.deepEqual(clients.map((auth) => auth.ended), Array(5).fill(["invalid_grant"]));
  assert.equal(seen.filter((r) => r.path === "/auth/refresh/").length, 1);
});

test("a 503 on the shared refresh is every waiting tab's answer: one request", async (t) => {
  const { clients, seen } = tabs(t, 3, {
    "/auth/refresh/": () => json(503, { error: "temporarily_unavailable" }),
  });

  const results = await Promise.allSettled(clients.map((auth) => auth.refresh()));

  assert.deepEqual(results.map((r) => r.reason?.error), Array(3).fill("temporarily_unavailable"));
  assert.equal(seen.length, 1);
  assert.deepEqual(clients.map((auth) => auth.ended), [[], [], []]);
});

test("a tab whose refresh never reached the server leaves the next tab to try", async (t) => {
  let calls = 0;
  const { clients, seen } = tabs(t, 2, {
    "/auth/refresh/": () => {
      calls += 1;
      if (calls === 1) throw new TypeError("Failed to fetch");
      return json(200, pair(1));
    },
  });

  const results = await Promise.allSettled(clients.map((auth) => auth.refresh()));

  assert.equal(results[0].status, "rejected");
  assert.equal(results[1].value.access_token, "access-1");
  assert.equal(seen.length, 2);
});

test("without Web Locks, tabs still hear each other's logins and logouts", async (t) => {
  const { clients, seen } = await loggedInTabs(t, 3, {
    "/auth/logout/": () => new Response(null, { status: 204 }),
  }, { withLocks: false });

  assert.deepEqual(clients.map((auth) => auth.isAuthenticated), [true, true, true]);
  await clients[2].logout();
  await until(() => clients[0].ended.length && clients[1].ended.length, "the other tabs ended");

  assert.deepEqual(clients.map((auth) => auth.ended), [["logout"], ["logout"], []]);
  assert.deepEqual(seen.map((r) => r.path), ["/auth/login/", "/auth/logout/"]);
});

test("a login after the end starts a session in every tab, and its end fires again", async (t) => {
  const { clients } = await loggedInTabs(t, 2, {
    "/auth/logout/": () => new Response(null, { status: 204 }),
  });

  await clients[0].logout();
  await until(() => clients[1].ended.length === 1, "the first end");
  await clients[0].login({ username: "u", password: "p" });
  await allIn(clients);
  await clients[0].logout();
  await until(() => clients[1].ended.length === 2, "the second end");

  assert.deepEqual(clients[1].ended, ["logout", "logout"]);
});

test("what travels between tabs never holds a refresh token", async (t) => {
  const { clients, origin } = tabs(t, 2, {
    "/auth/login/": () => json(200, { ...pair(1), refresh_token: "tokenauth_secret" }),
  });
  const spy = new BroadcastChannel(`tokenauth ${origin}/auth/`);
  const heard = [];
  spy.onmessage = ({ data }) => heard.push(data);
  t.after(() => spy.close());

  await clients[0].login({ username: "u", password: "p" });
  await until(() => heard.length === 1 && clients[1].isAuthenticated, "the login's message");

  assert.equal(JSON.stringify(heard).includes("tokenauth_secret"), false);
  assert.equal(heard[0].payload.access_token, "access-1");
});

test("junk on the channel is ignored", async (t) => {
  const { clients, origin, seen } = tabs(t, 1, { "/x/": () => json(200, {}) });
  const [auth] = clients;
  const other = new BroadcastChannel(`tokenauth ${origin}/auth/`);
  t.after(() => other.close());

  for (const junk of [null, "tokens", { type: "tokens", payload: { access_token: 42 } },
    { type: "tokens" }, { type: "surprise" }]) {
    other.postMessage(junk);
  }
  // Had a junk "tokens" been taken, this end would find an active session and fire.
  other.postMessage({ type: "ended", reason: "sentinel" });
  // One sender's messages arrive in order: once this one is in, so are those before it.
  other.postMessage({ type: "tokens", payload: pair(7), renewAt: Date.now() + 60_000, expiresAt: Date.now() + 90_000 });
  await until(() => auth.isAuthenticated, "the valid message");
  await auth.fetch(`${origin}/x/`);

  assert.deepEqual(auth.ended, []);
  assert.equal(seen.at(-1).auth, "Bearer access-7");
});
