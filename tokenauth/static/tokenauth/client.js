// tokenauth browser client: an ES module, no build step.
//
// The access token lives in memory only; the refresh token lives in the HttpOnly cookie that
// cookie mode (TOKENAUTH["REFRESH_COOKIE"]) sets, which this script can neither read nor leak.
//
//   import { TokenAuthClient } from "/static/tokenauth/client.js";
//   const auth = new TokenAuthClient({ baseUrl: "/auth/" });
//   await auth.login({ username, password });
//   const response = await auth.fetch("/api/me/");   // refreshes once on a 401, then retries
//   await auth.logout();

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

export class TokenAuthClient {
  #accessToken = null;
  #expiresAt = 0;
  #refreshing = null;

  constructor({ baseUrl = "/auth/", fetch: fetchImpl = globalThis.fetch.bind(globalThis) } = {}) {
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    this.fetchImpl = fetchImpl;
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

  async logout() {
    try {
      await this.#post("logout/", {});
    } finally {
      this.#forget();
    }
  }

  // fetch() with the access token; on a 401 it refreshes once and retries once.
  async fetch(input, init = {}) {
    if (this.#accessToken === null || Date.now() >= this.#expiresAt) {
      await this.refresh().catch(() => undefined);
    }
    let response = await this.fetchImpl(input, this.#withBearer(init));
    if (response.status === 401) {
      await this.refresh();
      response = await this.fetchImpl(input, this.#withBearer(init));
    }
    return response;
  }

  async #tokenRequest(path, body) {
    const response = await this.#post(path, body);
    const payload = await response.json().catch(() => null);
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

  #withBearer(init) {
    const headers = new Headers(init.headers || {});
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
