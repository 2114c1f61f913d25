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
// dpop: true (RFC 9449, DESIGN §8) binds the tokens to a key this browser holds: an ECDSA
// P-256 key pair made by WebCrypto as non-extractable (no script, this one included, can
// read the private key), kept in IndexedDB so a reload keeps the session, deleted at logout.
// Every token request and every auth.fetch() carries a proof signed with it; the server's
// DPoP-Nonce is followed (one retry on use_dpop_nonce). An XSS can still ask for proofs
// while it runs in the page; it cannot take the key away.
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

const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const b64json = (value) => b64url(new TextEncoder().encode(JSON.stringify(value)));
const KEY_DB = "tokenauth-dpop";
const KEY_STORE = "keys";
// fetch() upper-cases these method names and sends any other as given (RFC 9110 §9.1): htm
// must be what is sent.
const NORMALISED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);

function sentMethod(method) {
  const upper = String(method).toUpperCase();
  return NORMALISED_METHODS.has(upper) ? upper : String(method);
}

function opened(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// Run use(store) in one IndexedDB transaction; resolves with what use() left in result.value
// once the transaction has committed. Tabs' readwrite transactions on a store take turns.
async function keyStore(mode, use) {
  const open = indexedDB.open(KEY_DB, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(KEY_STORE);
  const db = await opened(open);
  try {
    return await new Promise((resolve, reject) => {
      const transaction = db.transaction(KEY_STORE, mode);
      const result = { value: undefined };
      use(transaction.objectStore(KEY_STORE), result);
      transaction.oncomplete = () => resolve(result.value);
      transaction.onerror = transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

// The DPoP key of one baseUrl and the nonces its servers gave. Without IndexedDB (node) the
// key lives in memory only: a reload then starts without a session.
class DPoPKey {
  #name;
  #pair = null; // a promise of { privateKey, publicKey, jwk }
  #nonces = new Map(); // origin → the latest DPoP-Nonce from it
  #persist = typeof globalThis.indexedDB?.open === "function";

  constructor(name) {
    if (!globalThis.crypto?.subtle) {
      throw new TypeError("TokenAuthClient: dpop needs WebCrypto (a secure context: https)");
    }
    this.#name = name;
  }

  // A compact JWS proof for a request (RFC 9449 §4.2); ath when it carries an access token.
  async proof(method, url, accessToken) {
    const { privateKey, jwk } = await this.#keys();
    const target = new URL(url);
    const claims = {
      jti: crypto.randomUUID(),
      htm: sentMethod(method),
      htu: target.origin + target.pathname, // §4.2: without query and fragment
      iat: Math.floor(Date.now() / 1000),
    };
    const nonce = this.#nonces.get(target.origin);
    if (nonce !== undefined) claims.nonce = nonce;
    if (accessToken != null) {
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken));
      claims.ath = b64url(digest);
    }
    const input = `${b64json({ typ: "dpop+jwt", alg: "ES256", jwk })}.${b64json(claims)}`;
    // WebCrypto's ECDSA signature is R || S, as JWS wants it (RFC 7518 §3.4).
    const signature = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      privateKey,
      new TextEncoder().encode(input),
    );
    return `${input}.${b64url(signature)}`;
  }

  // Keep the server's nonce; true when the response asks for a retry with a nonce other than
  // the one sent: a use_dpop_nonce error (RFC 9449 §8 at token endpoints, §9 at resources).
  async heed(url, response) {
    const nonce = response.headers.get("DPoP-Nonce");
    if (nonce === null) return false;
    const origin = new URL(url).origin;
    const changed = this.#nonces.get(origin) !== nonce;
    this.#nonces.set(origin, nonce);
    if (!changed) return false;
    if (response.status === 401) {
      return /error="?use_dpop_nonce/.test(response.headers.get("WWW-Authenticate") ?? "");
    }
    if (response.status !== 400) return false;
    const body = await response.clone().json().catch(() => null);
    return body?.error === "use_dpop_nonce";
  }

  // Logout: the key is gone for good (a new login makes a new one).
  async delete() {
    this.forget();
    if (this.#persist) {
      await keyStore("readwrite", (store) => store.delete(this.#name)).catch(() => undefined);
    }
  }

  // Another tab deleted it: load or make it again when next needed.
  forget() {
    this.#pair = null;
    this.#nonces.clear();
  }

  #keys() {
    if (this.#pair === null) {
      this.#pair = this.#loadOrMake();
      this.#pair.catch(() => {
        this.#pair = null; // a failure is retried on the next request
      });
    }
    return this.#pair;
  }

  async #loadOrMake() {
    let pair = this.#persist
      ? await keyStore("readonly", (store, result) => {
          const get = store.get(this.#name);
          get.onsuccess = () => (result.value = get.result);
        })
      : undefined;
    if (!pair) {
      // Non-extractable: exportKey() of the private key throws, here and in any script.
      const fresh = await crypto.subtle.generateKey(
        { name: "ECDSA", namedCurve: "P-256" },
        false,
        ["sign", "verify"],
      );
      // Two tabs making their first key at once: the first stored wins, both use it.
      pair = !this.#persist
        ? fresh
        : await keyStore("readwrite", (store, result) => {
            const get = store.get(this.#name);
            get.onsuccess = () => {
              result.value = get.result ?? fresh;
              if (!get.result) store.put(fresh, this.#name);
            };
          });
    }
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    return { privateKey: pair.privateKey, publicKey: pair.publicKey, jwk: { kty, crv, x, y } };
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
  #dpop = null; // a DPoPKey with dpop: true
  #tokenType = "Bearer"; // the scheme the server's token_type names: "DPoP" once bound

  constructor({
    baseUrl = "/auth/",
    apiOrigins = [],
    dpop = false,
    onSessionEnd,
    fetch: fetchImpl = globalThis.fetch.bind(globalThis),
  } = {}) {
    super();
    if (typeof dpop !== "boolean") {
      throw new TypeError("TokenAuthClient: dpop must be true or false");
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
    if (dpop) this.#dpop = new DPoPKey(`tokenauth:dpop:${base ? base.href : this.baseUrl}`);
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
      const response = await this.#post("login/", credentials, { proof: true });
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
    await this.#dpop?.delete(); // whatever the answer: without the key no refresh can succeed
    if (!response.ok) {
      throw new TokenAuthError(response.status, await response.json().catch(() => null));
    }
  }

  // Ends every session of the user (every device), and this browser's cookie with them.
  async logoutAll() {
    if (this.#due()) await this.refresh(); // logout-all/ takes the access token
    const response = await this.#alone(async ({ tell }) => {
      const answer = await this.#send(this.baseUrl + "logout-all/", {
        method: "POST",
        credentials: this.#credentials,
        headers: JSON_HEADERS,
        body: "{}",
      });
      if (answer.ok) {
        await this.#post("logout/", {}).catch(() => undefined); // clears the dead cookie
        tell({ type: "logout" });
      }
      return answer;
    });
    this.#leave();
    if (response.ok) await this.#dpop?.delete();
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
    const response = await this.#send(input, init);
    if (response.status !== 401 || tried || this.#session === "ended") {
      return response;
    }
    try {
      await this.refresh();
    } catch {
      return response;
    }
    return this.#send(retryInput, init);
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
    // A network error: the other tabs try themselves.
    const response = await this.#post("refresh/", {}, { proof: true });
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
    this.#tokenType = String(kept.token_type).toLowerCase() === "dpop" ? "DPoP" : "Bearer";
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
        this.#dpop?.forget(); // the tab that logged out deleted the key
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

  // A POST to a token endpoint; with proof (login/, refresh/) and dpop on, it carries a DPoP
  // proof and is sent once more when the server asks for its nonce.
  async #post(path, body, { proof = false } = {}) {
    const url = this.baseUrl + path;
    const send = async () => {
      const headers = new Headers(JSON_HEADERS);
      if (proof && this.#dpop) {
        headers.set("DPoP", await this.#dpop.proof("POST", this.#target(url)?.href));
      }
      const init = { method: "POST", credentials: this.#credentials, headers };
      return this.fetchImpl(url, { ...init, body: JSON.stringify(body) });
    };
    const response = await send();
    const retry = this.#dpop !== null && (await this.#dpop.heed(this.#target(url).href, response));
    return proof && retry ? send() : response;
  }

  // fetch() with the access token attached (and its proof), once more on a nonce challenge.
  async #send(input, init) {
    const spare = this.#dpop !== null && input instanceof Request ? input.clone() : input;
    const response = await this.fetchImpl(input, await this.#withToken(input, init));
    if (this.#dpop !== null && (await this.#dpop.heed(this.#target(input).href, response))) {
      return this.fetchImpl(spare, await this.#withToken(spare, init));
    }
    return response;
  }

  // A Request's url is already absolute; a URL object or a string is resolved as fetch()
  // would resolve it, falling back to baseUrl outside a page. Null when unresolvable (a
  // relative URL with no page and a relative baseUrl).
  #target(input) {
    const url = input instanceof Request ? input.url : String(input);
    return resolve(url, pageBase() ?? resolve(this.baseUrl)?.href);
  }

  #mayCarryToken(input) {
    const target = this.#target(input);
    return target !== null && this.#tokenOrigins.has(target.origin);
  }

  async #withToken(input, init) {
    // init.headers would replace a Request's own headers: start from those.
    const headers = new Headers(init.headers || (input instanceof Request ? input.headers : {}));
    const token = this.#accessToken;
    if (token !== null && this.#dpop !== null && this.#tokenType === "DPoP") {
      const method = init.method ?? (input instanceof Request ? input.method : "GET");
      headers.set("DPoP", await this.#dpop.proof(method, this.#target(input).href, token));
      headers.set("Authorization", `DPoP ${token}`);
    } else if (token !== null) {
      headers.set("Authorization", `Bearer ${token}`);
    }
    return { ...init, headers };
  }

  #forget() {
    this.#hints.remember(false);
    this.#accessToken = null;
    this.#renewAt = 0;
    this.#expiresAt = 0;
    this.#news = null;
  }
}
