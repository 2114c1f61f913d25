// A scripted server for the client's unit tests (imported by the *.test.mjs files; not a test
// file itself).

export const json = (status, body) =>
  new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
export const pair = (n) => ({ access_token: `access-${n}`, token_type: "Bearer", expires_in: 900 });

// A scripted server for every origin: routes by path (an unknown path is a 404); records every
// request it sees. Relative URLs resolve as a browser's fetch would: against the page.
export function server(routes) {
  const seen = [];
  const fetchImpl = async (input, init = {}) => {
    const request = input instanceof Request
      ? new Request(input, init)
      : new Request(new URL(input, globalThis.location?.href ?? "http://app.test"), init);
    const { origin, pathname: path } = new URL(request.url);
    const body = request.method === "POST" ? await request.text() : null;
    const { headers, credentials } = request;
    seen.push({ origin, path, auth: headers.get("Authorization"), body, headers, credentials });
    return (routes[path] ?? (() => json(404, {})))(request, seen);
  };
  return { fetchImpl, seen };
}

// Date.now() under the test's control (the client reads no other clock); restore() puts it back.
export function clock() {
  const real = Date.now;
  let now = real();
  Date.now = () => now;
  return {
    advance: (ms) => {
      now += ms;
    },
    restore: () => {
      Date.now = real;
    },
  };
}
