// tokenauth browser client: an ES module, no build step.
//
// The access token lives in memory only; the refresh token lives in the HttpOnly cookie that
// cookie mode (TOKENAUTH["REFRESH_COOKIE"]) sets, which this script can neither read nor leak.
//
//   import { TokenAuthClient } from "/static/tokenauth/client.js";
//   const auth = new TokenAuthClient({
//     baseUrl: "/auth/",
//     apiOrigins: ["https://api.example.com"], // other origins that may see the access token
//   });
//   await auth.login({ username, password });
//   const response = await auth.fetch("/api/me/");   // refreshes once on a 401, then retries
//   await auth.logout();
//
// auth.fetch() attaches the access token only to the page's own origin, baseUrl's origin and
// the apiOrigins; any other URL is fetched as given, without the token.

const JSON_HEADERS = {
  "Content-Type": "application/json",
  // A custom header forces a CORS preflight: the server's CSRF rule for cookie requests.
  "X-Requested-With": "XMLHttpRequest",
};

export class TokenAuthError extends Error {
  constructor(status, body) {
    super((body && (body.error_description || body.error)) || `HTTP ${status}`);
    this.name = "TokenAuthError";
    this.status = status;
    this.error = body && body.error;
  }
}

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

export class TokenAuthClient {
  #accessToken = null;
  #expiresAt = 0;
  #refreshing = null;
  #epoch = 0; // bumped by logout: answers to requests sent before it are dropped
  #tokenOrigins; // where auth.fetch() may send the access token

  constructor({
    baseUrl = "/auth/",
    apiOrigins = [],
    fetch: fetchImpl = globalThis.fetch.bind(globalThis),
  } = {}) {
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    this.fetchImpl = fetchImpl;
    if (!Array.isArray(apiOrigins)) {
      throw new TypeError("TokenAuthClient: apiOrigins must be an array of origins");
    }
    this.#tokenOrigins = new Set(apiOrigins.map(apiOrigin));
    const own = globalThis.location?.origin;
    if (own && own !== "null") {
      this.#tokenOrigins.add(own); // a file:// page or a sandboxed frame has no origin to add
    }
    const base = resolve(this.baseUrl, pageBase());
    if (base && base.origin !== "null") {
      this.#tokenOrigins.add(base.origin);
    }
  }

  get isAuthenticated() {
    return this.#accessToken !== null;
  }

  async login(credentials) {
    return this.#tokenRequest("login/", credentials);
  }

  // Trade the cookie for a new pair. Concurrent callers share one request, so a page never
  // spends its own refresh token twice (the server's grace window covers other tabs).
  async refresh() {
    if (!this.#refreshing) {
      this.#refreshing = this.#tokenRequest("refresh/", {}).finally(() => {
        this.#refreshing = null;
      });
    }
    return this.#refreshing;
  }

  // Ends the session on the server; throws TokenAuthError when the server did not (the
  // access token is forgotten either way).
  async logout() {
    this.#epoch += 1;
    this.#forget();
    // Let a refresh in flight land first, so the cookie sent is the newest one.
    await (this.#refreshing || Promise.resolve()).catch(() => undefined);
    const response = await this.#post("logout/", {});
    if (!response.ok) {
      throw new TokenAuthError(response.status, await response.json().catch(() => null));
    }
  }

  // fetch() with the access token. On a 401 it refreshes once and retries once; if that
  // refresh fails, the 401 response is returned as it came. A body must be re-sendable
  // (a string, FormData, Blob...): a Request object is cloned for the retry.
  //
  // A URL of any other origin than the page's, baseUrl's and the apiOrigins is fetched as
  // given: no token, no refresh (a third-party API must never see it).
  async fetch(input, init = {}) {
    if (!this.#mayCarryToken(input)) {
      return this.fetchImpl(input, init);
    }
    let refreshed = false;
    if (this.#accessToken === null || Date.now() >= this.#expiresAt) {
      refreshed = await this.refresh().then(() => true, () => false);
      if (!refreshed && this.#accessToken === null) {
        return this.fetchImpl(input, init); // anonymous: let the API say 401 itself
      }
    }
    const retryInput = input instanceof Request ? input.clone() : input;
    const response = await this.fetchImpl(input, this.#withBearer(input, init));
    if (response.status !== 401 || refreshed) {
      return response;
    }
    try {
      await this.refresh();
    } catch {
      return response;
    }
    return this.fetchImpl(retryInput, this.#withBearer(retryInput, init));
  }

  async #tokenRequest(path, body) {
    const epoch = this.#epoch;
    const response = await this.#post(path, body);
    const payload = await response.json().catch(() => null);
    if (epoch !== this.#epoch) {
      throw new TokenAuthError(401, { error: "logged_out", error_description: "Logged out." });
    }
    if (!response.ok) {
      this.#forget();
      throw new TokenAuthError(response.status, payload);
    }
    this.#accessToken = payload.access_token;
    // Renew a little early rather than meet a 401.
    this.#expiresAt = Date.now() + Math.max(0, payload.expires_in - 10) * 1000;
    return payload;
  }

  #post(path, body) {
    return this.fetchImpl(this.baseUrl + path, {
      method: "POST",
      credentials: "same-origin",
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
    if (this.#accessToken !== null) {
      headers.set("Authorization", `Bearer ${this.#accessToken}`);
    }
    return { ...init, headers };
  }

  #forget() {
    this.#accessToken = null;
    this.#expiresAt = 0;
  }
}
