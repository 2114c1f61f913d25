// panva's oauth4webapi, a DPoP client we did not write, against a live tokenauth server:
// the password grant through genericTokenEndpointRequest, one protected resource call and a
// refresh, each proven with one DPoP handle, retried once on use_dpop_nonce as its docs say.
// Run by tests/test_dpop_clients.py from a directory holding node_modules/oauth4webapi (kept
// out of tests/js/, whose files `node --test` runs):
//   node oauth4webapi_dpop.mjs <base url> <username> <password>
// Prints one JSON object on stdout; an uncaught error exits non-zero with its message.
import * as oauth from "oauth4webapi";

const [base, username, password] = process.argv.slice(2);
const as = { issuer: base, token_endpoint: `${base}/auth/token/` };
const client = { client_id: "oauth4webapi-public-client" };
const clientAuth = oauth.None(); // a public client (RFC 6749 §2.1)
const insecure = { [oauth.allowInsecureRequests]: true }; // plain HTTP to 127.0.0.1 only

const keyPair = await oauth.generateKeyPair("ES256");
const DPoP = oauth.DPoP(client, keyPair);
const retries = [];

// The library's documented pattern: the handle has kept the DPoP-Nonce of the refusal, so the
// same request made again carries it. Any other refusal is reported, for the test to show.
async function withNonceRetry(label, send, parse) {
  try {
    try {
      return await parse(await send());
    } catch (error) {
      if (!oauth.isDPoPNonceError(error)) throw error;
      retries.push(label);
      return await parse(await send());
    }
  } catch (error) {
    return { refused: `${error.name}: ${error.message}`, status: error.status, cause: error.cause };
  }
}

const login = await withNonceRetry(
  "password",
  () =>
    oauth.genericTokenEndpointRequest(as, client, clientAuth, "password", { username, password }, {
      DPoP,
      ...insecure,
    }),
  (response) => oauth.processGenericTokenEndpointResponse(as, client, response),
);

const me = await withNonceRetry(
  "resource",
  () =>
    oauth.protectedResourceRequest(login.access_token, "GET", new URL(`${base}/api/me/`), undefined, undefined, {
      DPoP,
      ...insecure,
    }),
  async (response) => ({ status: response.status, body: await response.json() }),
);

const refreshed = await withNonceRetry(
  "refresh",
  () => oauth.refreshTokenGrantRequest(as, client, clientAuth, login.refresh_token, { DPoP, ...insecure }),
  (response) => oauth.processRefreshTokenResponse(as, client, response),
);

const pick = (t) => ({ token_type: t.token_type, access_token: t.access_token, refresh_token: t.refresh_token });
console.log(
  JSON.stringify({
    jkt: await DPoP.calculateThumbprint(),
    login: pick(login),
    me,
    refreshed: pick(refreshed),
    retries,
  }),
);
