/**
 * Decoding of the Trino client headers shared by the Envoy and Trino Gateway adapters.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  parseClientTags,
  parseTrinoSession,
  routeInputFromTrinoHeaders,
} from "../../src/server/trino_headers.ts";

Deno.test("X-Trino-Session pairs are split on commas and URL-decoded like Java's URLEncoder", () => {
  assert.deepEqual(parseTrinoSession("a=1,b=x+y%3Dz, c = %E2%9C%93"), {
    a: "1",
    b: "x y=z",
    c: "✓",
  });
});

Deno.test("several X-Trino-Session headers (joined by Headers) are all read", () => {
  const headers = new Headers();
  headers.append("X-Trino-Session", "catalog=tpch");
  headers.append("X-Trino-Session", "schema=tiny");
  const input = routeInputFromTrinoHeaders(headers, "SELECT 1");
  assert.equal(input.catalog, "tpch");
  assert.equal(input.schema, "tiny");
});

Deno.test("malformed session pairs are skipped, not fatal", () => {
  assert.deepEqual(parseTrinoSession("=x,novalue,ok=1,bad=%ZZ"), { ok: "1", bad: "%ZZ" });
  assert.deepEqual(parseTrinoSession(null), {});
});

Deno.test("client tags are trimmed and empty tags dropped", () => {
  assert.deepEqual(parseClientTags("etl, ,nightly ,"), ["etl", "nightly"]);
  assert.deepEqual(parseClientTags(undefined), []);
});

Deno.test("catalog and schema headers win over session properties of the same name", () => {
  const both = routeInputFromTrinoHeaders(
    new Headers({ "X-Trino-Catalog": "hive", "X-Trino-Session": "catalog=tpch,schema=tiny" }),
    "SELECT 1",
  );
  assert.equal(both.catalog, "hive");
  assert.equal(both.schema, "tiny");
});

Deno.test("absent or blank headers leave the context fields undefined", () => {
  const input = routeInputFromTrinoHeaders(new Headers({ "X-Trino-User": " " }), "SELECT 1");
  assert.deepEqual(input, {
    sqlText: "SELECT 1",
    user: undefined,
    source: undefined,
    catalog: undefined,
    schema: undefined,
    clientTags: [],
  });
});

Deno.test("Envoy's submission-time stamp becomes the request timestamp, so time features need no clock", () => {
  const input = routeInputFromTrinoHeaders(
    new Headers({ "X-Trino-User": "alice", "X-Trino-Router-Submit-Time": "2025-08-11T12:34:56Z" }),
    "SELECT 1",
  );
  assert.equal(input.timestamp, "2025-08-11T12:34:56Z");
  const unstamped = routeInputFromTrinoHeaders(new Headers(), "SELECT 1");
  assert.equal(unstamped.timestamp, undefined);
});
