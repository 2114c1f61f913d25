// Types for client.js, tokenauth's browser client (copy both files together).

/** The body of a 200 from login/ or refresh/ (RFC 6749 §5.1), less the refresh token, which
 * cookie mode keeps in its HttpOnly cookie; plus any TOKEN_RESPONSE_FIELDS of the server. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token_expires_in?: number;
  [field: string]: unknown;
}

/** Why the session ended: "logout" (a logout in another tab), else the error code the server
 * gave the refresh ("invalid_grant": revoked, expired, reused; "invalid_request": no cookie). */
export interface SessionEndDetail {
  reason: string;
}

export interface TokenAuthClientOptions {
  /** Where tokenauth.urls is mounted, relative to the page or absolute (another origin:
   * token requests are then sent with credentials: "include"). Default "/auth/". */
  baseUrl?: string;
  /** Other origins that may see the access token, e.g. ["https://api.example.com"]. */
  apiOrigins?: string[];
  /** DPoP (RFC 9449): bind the tokens to a non-extractable P-256 key kept in IndexedDB (needs
   * a secure context), prove it on every token request and fetch(), follow DPoP-Nonce, and
   * delete the key at logout. Default false. */
  dpop?: boolean;
  /** Called once when the session is over (same as the "sessionend" event's detail). */
  onSessionEnd?: (detail: SessionEndDetail) => void;
  /** The fetch to send requests with (tests, instrumentation). Default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** A token endpoint's refusal: the HTTP status and its RFC 6749 error code. */
export declare class TokenAuthError extends Error {
  constructor(status: number, body?: { error?: string; error_description?: string } | null);
  readonly name: "TokenAuthError";
  readonly status: number;
  readonly error: string | undefined;
}

export interface TokenAuthClientEventMap {
  sessionend: CustomEvent<SessionEndDetail>;
}

export declare class TokenAuthClient extends EventTarget {
  constructor(options?: TokenAuthClientOptions);
  readonly baseUrl: string;
  /** Whether an access token is in memory. */
  readonly isAuthenticated: boolean;
  /** When the access token in memory expires, in ms since the epoch; null without one. */
  readonly expiresAt: number | null;

  /** POST login/ (the user model's USERNAME_FIELD and password); rejects with TokenAuthError. */
  login(credentials: Record<string, string>): Promise<TokenResponse>;
  /** Trade the refresh cookie for new tokens, once for all callers and tabs at a time. */
  refresh(): Promise<TokenResponse>;
  /** Resume the session on page load: true with a session, false without one; never rejects. */
  restore(): Promise<boolean>;
  /** fetch() with the access token (for the page's, baseUrl's and apiOrigins' origins only),
   * renewed when due; resolves with the API's own 401 once the session is over. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** End this session on the server and in every tab; rejects with TokenAuthError. */
  logout(): Promise<void>;
  /** End every session of the user, on every device; rejects with TokenAuthError. */
  logoutAll(): Promise<void>;
  /** Stop taking part in the other tabs' coordination. */
  close(): void;

  addEventListener<K extends keyof TokenAuthClientEventMap>(
    type: K,
    listener: (this: TokenAuthClient, event: TokenAuthClientEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof TokenAuthClientEventMap>(
    type: K,
    listener: (this: TokenAuthClient, event: TokenAuthClientEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}
