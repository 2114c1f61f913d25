// client.d.ts declares what client.js has: the same methods and getters, the same options.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { TokenAuthClient } from "../../tokenauth/static/tokenauth/client.js";

const types = readFileSync(new URL("../../tokenauth/static/tokenauth/client.d.ts", import.meta.url), "utf8");
const block = (name) => types.slice(types.indexOf(name)).split(/\n}\n/)[0];
const declared = (body) => [...body.matchAll(/^ {2}(?:readonly )?(\w+)[<(:?]/gm)].map((m) => m[1]);

test("client.d.ts declares every method and getter of TokenAuthClient, and no other", () => {
  const own = Object.getOwnPropertyNames(TokenAuthClient.prototype).filter((n) => n !== "constructor");
  const inherited = ["addEventListener", "removeEventListener"]; // typed for "sessionend"
  const names = new Set(declared(block("export declare class TokenAuthClient")));
  for (const name of ["constructor", "baseUrl", ...inherited]) names.delete(name);

  assert.deepEqual([...names].sort(), own.sort());
});

test("client.d.ts declares the constructor's options", () => {
  const source = readFileSync(new URL("../../tokenauth/static/tokenauth/client.js", import.meta.url), "utf8");
  const destructured = source.match(/constructor\(\{([^}]*)\} = \{\}\)/)[1];
  const options = [...destructured.matchAll(/^\s*(\w+)/gm)].map((m) => m[1]);

  assert.deepEqual(declared(block("export interface TokenAuthClientOptions")).sort(), options.sort());
});
