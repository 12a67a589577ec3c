// deploy/envoy/envoy_retry.yaml is deploy/envoy/envoy.yaml plus the ext_proc filter: these
// checks catch the two drifting apart (a route or filter added to one only).
import assert from "node:assert/strict";

const base = await Deno.readTextFile(new URL("../../deploy/envoy/envoy.yaml", import.meta.url));
const retry = await Deno.readTextFile(
  new URL("../../deploy/envoy/envoy_retry.yaml", import.meta.url),
);

const names = (yaml: string, indent: number) =>
  [...yaml.matchAll(new RegExp(`^ {${indent}}- name: (\\S+)`, "gm"))].map((m) => m[1]);
const placeholders = (yaml: string) =>
  new Set([...yaml.replace(/^\s*#.*$/gm, "").matchAll(/\{\{([A-Z_]+)\}\}/g)].map((m) => m[1]));

Deno.test("the retry config has every route of envoy.yaml, in order, plus the ext_proc one", () => {
  const routes = (yaml: string) => names(yaml, 24);
  assert.ok(routes(base).length >= 5, "routes found in envoy.yaml");
  assert.deepEqual(
    routes(retry).filter((name) => name !== "followup-small-statement"),
    routes(base),
  );
  // More specific than followup-small, so it must come first.
  assert.ok(
    routes(retry).indexOf("followup-small-statement") < routes(retry).indexOf("followup-small"),
  );
});

Deno.test("the retry config's filters: ext_authz, then ext_proc, then the router", () => {
  const filters = (yaml: string) =>
    names(yaml, 18).filter((name) => name.startsWith("envoy.filters.http."));
  assert.deepEqual(filters(base), ["envoy.filters.http.ext_authz", "envoy.filters.http.router"]);
  assert.deepEqual(filters(retry), [
    "envoy.filters.http.ext_authz",
    "envoy.filters.http.ext_proc",
    "envoy.filters.http.router",
  ]);
});

Deno.test("the retry config's clusters and placeholders: envoy.yaml's plus ext_proc's", () => {
  const clusters = (yaml: string) => names(yaml.slice(yaml.indexOf("\n  clusters:")), 4);
  assert.ok(clusters(base).length >= 3, "clusters found in envoy.yaml");
  assert.deepEqual(clusters(retry), ["ext_proc", ...clusters(base)]);
  assert.deepEqual(
    placeholders(retry),
    new Set([...placeholders(base), "EXT_PROC_HOST", "EXT_PROC_PORT", "EXT_PROC_TLS"]),
  );
});
