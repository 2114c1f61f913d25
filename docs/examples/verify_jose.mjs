// Verify a tokenauth access token in a Node service, from jwks.json alone (jose).
//
// Run: node verify_jose.mjs --jwks-url URL --issuer ISS --audience AUD --algorithm ES256 TOKEN
// It prints the token's claims as JSON, or the reason it refused the token (exit status 1).
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createRemoteJWKSet, errors, jwtVerify } from "jose";

// Fetches jwks.json when needed, keeps it (default 10 min, cacheMaxAge), and fetches it again
// for a kid it does not know (at most every 30 s, cooldownDuration): a key rotation needs no
// restart.
export function keySet(jwksUrl) {
  return createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge: 300_000 }); // jwks.json's max-age
}

export async function verify(accessToken, keys, { issuer, audience, algorithm }) {
  const { payload } = await jwtVerify(accessToken, keys, {
    algorithms: [algorithm], // pin the server's ALGORITHM: never trust the token's "alg"
    typ: "at+jwt", // RFC 9068: refuses ID tokens and other JWTs the same key may sign
    issuer,
    audience,
    requiredClaims: ["sub", "sid", "iat", "exp"],
    clockTolerance: 0, // the server's LEEWAY, if you set one
  });
  return payload;
}

async function main() {
  const { values, positionals } = parseArgs({
    options: {
      "jwks-url": { type: "string" },
      issuer: { type: "string" },
      audience: { type: "string" },
      algorithm: { type: "string", default: "ES256" },
    },
    allowPositionals: true,
  });
  const keys = keySet(values["jwks-url"]);
  try {
    const claims = await verify(positionals[0], keys, values);
    console.log(JSON.stringify(claims));
    return 0;
  } catch (error) {
    if (!(error instanceof errors.JOSEError)) throw error;
    console.error(`refused: ${error.code}: ${error.message}`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main();
