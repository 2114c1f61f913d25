// tokenauth browser client: an ES module, no build step (types: client.d.ts beside it).
//
// The access token lives in memory only; the refresh token lives in the HttpOnly cookie that
// cookie mode (TOKENAUTH["REFRESH_COOKIE"]) sets, which this script can neither read nor leak.
//
//   import { TokenAuthClient } from "/static/tokenauth/client.js";
//   const auth = new TokenAuthClient({
//     baseUrl: "/auth/",
//     apiOrigins: ["https://api.example.com"], // other origins that may see the access token
//     onSessionEnd: ({ reason }) => showLoginForm(),
//   });
//   if (!(await auth.restore())) await auth.login({ username, password });
//   const response = await auth.fetch("/api/me/");   // renews when due, refreshes once on a 401
//   await auth.logout();
//
// auth.fetch() attaches the access token only to the page's own origin, baseUrl's origin and
// the apiOrigins; any other URL is fetched as given, without the token.
//
// Tabs of one origin that use the same baseUrl work as one: one refreshes at a time (Web
// Locks), the others take its result (BroadcastChannel), and a logout in one ends the session
// in all. Without those APIs each page is single-flight on its own.

const JSON_HEADERS = {
  "Content-Type": "application/json",
  // A custom header forces a CORS preflight: the server's CSRF rule for cookie requests.
  "X-Requested-With": "XMLHttpRequest",
};
const RENEW_AFTER = 0.8; // renew once 80% of the access token's lifetime has passed,
const MAX_RENEW_MARGIN_MS = 60_000; // and never more than a minute before it expires
const HANDOFF_WAIT_MS = 1000; // a tab that waited on the lock waits this long for its news
const SESSION_OVER = new Set([400, 401, 403]); // a refresh refused: no session to resume

export class TokenAuthError extends Error {
  constructor(status, body) {
    super((body && (body.error_description || body.error)) || `HTTP ${status}`);
    this.name = "TokenAuthError";
    this.status = status;
    this.error = body && body.error;
  }
}

const loggedOut = (where) =>
  new TokenAuthError(401, { error: "logged_out", error_description: `Logged out${where}.` });

// What fetch() resolves a relative URL against: the document's base URL (a <base> element
// counts), else the page's (or worker's) location; undefined outside a page (node).
function pageBase() {
  return globalThis.document?.baseURI ?? globalThis.location?.href;
}

function resolve(url, base) {
  try {
    return new URL(url, base);
  } catch {
    return null;
  }
}

function apiOrigin(entry) {
  const url = typeof entry === "string" ? resolve(entry) : null;
  if (url === null || (url.protocol !== "https:" && url.protocol !== "http:")) {
    throw new TypeError(
      `TokenAuthClient: apiOrigins entry ${JSON.stringify(entry)} is not an origin ` +
        'such as "https://api.example.com"',
    );
  }
  return url.origin; // "https://API.example.com:443/v1/" → "https://api.example.com"
}

// The other tabs of this origin that talk to the same baseUrl. Either API may be missing
// (node, an insecure context, an old browser): then this page works alone.
class Tabs {
  #name;
  #locks = globalThis.navigator?.locks ?? null;
  #channel = null;
  #waiters = new Set();

  constructor(name, onMessage) {
    this.#name = name;
    if (typeof globalThis.BroadcastChannel === "function") {
      this.#channel = new BroadcastChannel(name);
      this.#channel.onmessage = ({ data }) => {
        onMessage(data);
        for (const wake of [...this.#waiters]) wake();
      };
      this.#channel.unref?.(); // node: an idle client must not keep a test runner alive
    }
  }

  tell(message) {
    this.#channel?.postMessage(message);
  }

  // Run task(waited) holding the lock; waited: another tab held it first (whose news, if it
  // had any, is on its way or here already).
  async alone(task) {
    if (this.#locks === null) return task(false);
    let busy = false;
    const result = await this.#locks.request(this.#name, { ifAvailable: true }, (lock) => {
      if (lock === null) {
        busy = true;
        return null;
      }
      return task(false);
    });
    return busy ? this.#locks.request(this.#name, () => task(true)) : result;
  }

  // Resolves on the next message from another tab, or after ms (at once without a channel).
  nextMessage(ms) {
    if (this.#channel === null) return Promise.resolve();
    return new Promise((done) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        done();
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
  }

  close() {
    this.#channel?.close();
    this.#channel = null;
    this.#locks = null;
  }
}

// Whether this browser may hold a session for baseUrl: "1" in localStorage from a token
// response until the session ends. Only a hint (no token, nothing secret): without storage
// (node, a blocked localStorage) every restore() asks the server.
class SessionHint {
  #key;

  constructor(key) {
    this.#key = key;
  }

  mayHaveSession() {
    try {
      return globalThis.localStorage ? globalThis.localStorage.getItem(this.#key) === "1" : true;
    } catch {
      return true;
    }
  }

  remember(active) {
    try {
      if (active) globalThis.localStorage?.setItem(this.#key, "1");
      else globalThis.localStorage?.removeItem(this.#key);
    } catch {
      // storage full or blocked: restore() will simply ask the server
    }
  }
}

export class TokenAuthClient extends EventTarget {
  #accessToken = null;
  #renewAt = 0;
  #expiresAt = 0;
  #session = "unknown"; // "unknown" (not looked for yet) | "active" | "ended" (over, or none)
  #refreshing = null;
  #epoch = 0; // bumped by logout: answers to requests sent before it are dropped
  #heard = 0; // messages from other tabs so far
  #newsSeq = 0; // ...of which carried news (tokens, an end, a failure)
  #news = null; // the latest of those
  #tokenOrigins; // where auth.fetch() may send the access token
  #credentials; // "include" when baseUrl is another origin: the cookie must travel
  #tabs;
  #hints;

  constructor({
    baseUrl = "/auth/",
    apiOrigins = [],
    dpop = false,
    onSessionEnd,
    fetch: fetchImpl = globalThis.fetch.bind(globalThis),
  } = {}) {
    super();
    if (dpop) {
      // DESIGN §8: proofs will be signed where #authorize() and #post() build requests.
      throw new TypeError("TokenAuthClient: dpop is not supported by this version of client.js");
    }
    if (onSessionEnd !== undefined && typeof onSessionEnd !== "function") {
      throw new TypeError("TokenAuthClient: onSessionEnd must be a function");
    }
    if (!Array.isArray(apiOrigins)) {
      throw new TypeError("TokenAuthClient: apiOrigins must be an array of origins");
    }
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    this.fetchImpl = fetchImpl;
    this.#tokenOrigins = new Set(apiOrigins.map(apiOrigin));
    const own = globalThis.location?.origin;
    if (own && own !== "null") {
      this.#tokenOrigins.add(own); // a file:// page or a sandboxed frame has no origin to add
    }
    const base = resolve(this.baseUrl, pageBase());
    if (base && base.origin !== "null") {
      this.#tokenOrigins.add(base.origin);
    }
    this.#credentials = base && own && base.origin === own ? "same-origin" : "include";
    this.#hints = new SessionHint(`tokenauth:session:${base ? base.href : this.baseUrl}`);
    if (onSessionEnd) {
      this.addEventListener("sessionend", (event) => onSessionEnd(event.detail));
    }
    this.#tabs = new Tabs(`tokenauth ${base?.href ?? this.baseUrl}`, (m) => this.#hear(m));
  }

  get isAuthenticated() {
    return this.#accessToken !== null;
  }

  // When the access token in memory expires (ms since the epoch), or null.
  get expiresAt() {
    return this.#accessToken === null ? null : this.#expiresAt;
  }

  async login(credentials) {
    return this.#alone(async ({ tell }) => {
      const response = await this.#post("login/", credentials);
      const payload = await response.json().catch(() => null);
      if (!response.ok || typeof payload?.access_token !== "string") {
        throw new TokenAuthError(response.status, payload); // the cookie is untouched
      }
      tell(this.#adopt(payload));
      return payload;
    });
  }

  // Trade the cookie for a new pair. Callers in this page share one request; other tabs
  // wait for it and take its result rather than spend the cookie again.
  async refresh() {
    if (!this.#refreshing) {
      this.#refreshing = this.#refreshAmongTabs().finally(() => {
        this.#refreshing = null;
      });
    }
    return this.#refreshing;
  }

  // Resume the session on page load: true with an access token, false without a session (or
  // when the server cannot be reached); never rejects. A browser that has had no session since
  // its last logout sends no request at all (a hint in localStorage, never a token): a visitor's
  // first page load is no refused refresh/ in the console.
  async restore() {
    if (!this.#due()) return true;
    if (this.#accessToken === null && !this.#hints.mayHaveSession()) return false;
    return this.refresh().then(
      () => true,
      () => false,
    );
  }

  // Ends the session on the server, and so in every tab; throws TokenAuthError when the
  // server did not (the access token is forgotten either way).
  async logout() {
    this.#leave();
    // Let a refresh in flight land first, so the cookie sent is the newest one.
    await (this.#refreshing || Promise.resolve()).catch(() => undefined);
    const response = await this.#alone(async ({ tell }) => {
      const answer = await this.#post("logout/", {});
      if (answer.ok) tell({ type: "logout" });
      return answer;
    });
    this.#leave(); // anything another tab told us while we waited for the lock
    if (!response.ok) {
      throw new TokenAuthError(response.status, await response.json().catch(() => null));
    }
  }

  // Ends every session of the user (every device), and this browser's cookie with them.
  async logoutAll() {
    if (this.#due()) await this.refresh(); // logout-all/ takes the access token
    const response = await this.#alone(async ({ tell }) => {
      const answer = await this.fetchImpl(this.baseUrl + "logout-all/", {
        method: "POST",
        credentials: this.#credentials,
        headers: this.#authorize(new Headers(JSON_HEADERS)),
        body: "{}",
      });
      if (answer.ok) {
        await this.#post("logout/", {}).catch(() => undefined); // clears the dead cookie
        tell({ type: "logout" });
      }
      return answer;
    });
    this.#leave();
    if (!response.ok) {
      throw new TokenAuthError(response.status, await response.json().catch(() => null));
    }
  }

  // fetch() with the access token, renewed first when due. On a 401 it refreshes once and
  // retries once; if that refresh fails, the 401 response is returned as it came. Once the
  // session is over it sends no token and tries no refresh: the API answers for itself. A
  // body must be re-sendable (a string, FormData, Blob...): a Request object is cloned.
  //
  // A URL of any other origin than the page's, baseUrl's and the apiOrigins is fetched as
  // given: no token, no refresh (a third-party API must never see it).
  async fetch(input, init = {}) {
    if (!this.#mayCarryToken(input)) {
      return this.fetchImpl(input, init);
    }
    const retryInput = input instanceof Request ? input.clone() : input;
    let tried = false;
    if (this.#session !== "ended" && this.#due()) {
      tried = true;
      await this.refresh().catch(() => undefined); // a token still valid is still sent
    }
    const response = await this.fetchImpl(input, this.#withBearer(input, init));
    if (response.status !== 401 || tried || this.#session === "ended") {
      return response;
    }
    try {
      await this.refresh();
    } catch {
      return response;
    }
    return this.fetchImpl(retryInput, this.#withBearer(retryInput, init));
  }

  // Stop taking part in the other tabs' coordination (a client you drop: tests, hot reload).
  close() {
    this.#tabs.close();
  }

  // Run task({ waited, tell }) alone among the tabs. A tab waiting on the lock learns the
  // outcome from the message task tells, or from "idle" when it told none.
  #alone(task) {
    return this.#tabs.alone(async (waited) => {
      let told = false;
      const tell = (message) => {
        told = true;
        this.#tabs.tell(message);
      };
      try {
        return await task({ waited, tell });
      } finally {
        if (!told) this.#tabs.tell({ type: "idle" });
      }
    });
  }

  #refreshAmongTabs() {
    const [heard, newsSeq, epoch] = [this.#heard, this.#newsSeq, this.#epoch];
    return this.#alone(async ({ waited, tell }) => {
      if (waited && this.#heard === heard) {
        await this.#tabs.nextMessage(HANDOFF_WAIT_MS); // the lock came before the news
      }
      if (this.#newsSeq !== newsSeq) {
        return this.#takeNews(epoch);
      }
      return this.#refreshHere(tell, epoch);
    });
  }

  // The result of the refresh (or login, or logout) another tab did while we waited.
  #takeNews(epoch) {
    const news = this.#news;
    if (news?.type === "tokens" && epoch === this.#epoch) return news.payload;
    if (news?.type === "ended" || news?.type === "failed") {
      throw new TokenAuthError(news.status, news.body);
    }
    throw loggedOut(news?.type === "logout" ? " in another tab" : ""); // or in this one
  }

  async #refreshHere(tell, epoch) {
    const response = await this.#post("refresh/", {}); // a network error: others try themselves
    const payload = await response.json().catch(() => null);
    if (epoch !== this.#epoch) {
      throw loggedOut(""); // our own logout began meanwhile
    }
    if (response.ok && typeof payload?.access_token === "string") {
      tell(this.#adopt(payload));
      return payload;
    }
    const news = { status: response.status, body: payload };
    if (SESSION_OVER.has(response.status)) {
      const reason = payload?.error ?? `http_${response.status}`;
      tell({ type: "ended", reason, ...news });
      this.#end(reason);
    } else {
      tell({ type: "failed", ...news }); // 5xx: the other tabs would meet the same
    }
    throw new TokenAuthError(response.status, payload);
  }

  // Keep a token response (never a refresh token: cookie mode keeps it out of the body, and
  // it must not travel between tabs); returns the message that tells the other tabs.
  #adopt(payload, times) {
    const { refresh_token: _dropped, ...kept } = payload;
    const lifeMs = Math.max(0, Number(kept.expires_in) || 0) * 1000;
    const margin = Math.min(lifeMs * (1 - RENEW_AFTER), MAX_RENEW_MARGIN_MS);
    const now = Date.now();
    // Another tab's times, so that all tabs renew together (one clock: one machine).
    const theirs = times && Number.isFinite(times.renewAt) && Number.isFinite(times.expiresAt);
    const renewAt = theirs ? times.renewAt : now + lifeMs - margin;
    const expiresAt = theirs ? times.expiresAt : now + lifeMs;
    this.#accessToken = kept.access_token;
    this.#renewAt = renewAt;
    this.#expiresAt = expiresAt;
    this.#session = "active";
    this.#hints.remember(true);
    return { type: "tokens", payload: kept, renewAt, expiresAt };
  }

  // A message from another tab of this origin (so from code as trusted as this page's).
  #hear(message) {
    this.#heard += 1;
    switch (message?.type) {
      case "tokens":
        if (typeof message.payload?.access_token !== "string") return;
        this.#adopt(message.payload, message);
        break;
      case "logout":
        this.#epoch += 1; // what this page had in flight belongs to the old session
        this.#end("logout");
        break;
      case "ended":
        this.#end(String(message.reason));
        break;
      case "failed":
        break;
      default:
        return; // "idle", or nothing of ours
    }
    this.#newsSeq += 1;
    this.#news = message;
  }

  // The session is over: sessionend fires once, in each tab where it was active.
  #end(reason) {
    const wasActive = this.#session === "active";
    this.#forget();
    this.#session = "ended";
    if (wasActive) {
      this.dispatchEvent(new CustomEvent("sessionend", { detail: { reason } }));
    }
  }

  // This tab's own logout: over here, without a sessionend (the caller knows).
  #leave() {
    this.#epoch += 1;
    this.#forget();
    this.#session = "ended";
  }

  #due() {
    return this.#accessToken === null || Date.now() >= this.#renewAt;
  }

  #post(path, body) {
    return this.fetchImpl(this.baseUrl + path, {
      method: "POST",
      credentials: this.#credentials,
      headers: JSON_HEADERS,
      body: JSON.stringify(body),
    });
  }

  #mayCarryToken(input) {
    // A Request's url is already absolute; a URL object or a string is resolved as fetch()
    // would resolve it, falling back to baseUrl outside a page.
    const url = input instanceof Request ? input.url : String(input);
    const base = pageBase() ?? resolve(this.baseUrl)?.href;
    const target = resolve(url, base);
    // Unresolvable (a relative URL with no page and a relative baseUrl): no token.
    return target !== null && this.#tokenOrigins.has(target.origin);
  }

  #withBearer(input, init) {
    // init.headers would replace a Request's own headers: start from those.
    const headers = new Headers(init.headers || (input instanceof Request ? input.headers : {}));
    return { ...init, headers: this.#authorize(headers) };
  }

  #authorize(headers) {
    if (this.#accessToken !== null) {
      headers.set("Authorization", `Bearer ${this.#accessToken}`);
    }
    return headers;
  }

  #forget() {
    this.#hints.remember(false);
    this.#accessToken = null;
    this.#renewAt = 0;
    this.#expiresAt = 0;
    this.#news = null;
  }
}
