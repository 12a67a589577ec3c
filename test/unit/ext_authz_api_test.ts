/**
 * The ext_authz endpoint as Envoy calls it: routing headers for both classes, Large on failure,
 * no opinion on anything but a statement submission.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { modelSetFromBundles } from "../../src/model/model_set.ts";
import { createRouter, type RouteDecision, type Router } from "../../src/routing/router.ts";
import { createApp } from "../../src/server/app.ts";
import { extAuthzApi } from "../../src/server/ext_authz_api.ts";
import { createRouterMetrics } from "../../src/server/metrics.ts";

async function appWith(router?: Router) {
  const lines: string[] = [];
  const recorded: RouteDecision[] = [];
  const metrics = createRouterMetrics();
  const real = createRouter({
    models: await modelSetFromBundles([]),
    clusters: { small: "s", large: "l" },
  });
  const app = createApp({
    config: DEFAULT_CONFIG,
    router: router ?? real,
    metrics,
    logger: createLogger((line) => lines.push(line)),
    recordDecision: (decision) => recorded.push(decision),
    storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
  }, [extAuthzApi]);
  return { app, lines, recorded, metrics };
}

/** What Envoy sends: original method, prefixed path, allowed headers, raw body. */
function check(body: string, headers: Record<string, string> = {}, path = "/v1/statement") {
  return new Request(`http://router/ext_authz${path}`, { method: "POST", headers, body });
}

const HEAVY = "SELECT * FROM a JOIN b ON 1=1 JOIN c ON 1=1 JOIN d ON 1=1 JOIN e ON 1=1";

Deno.test("a light statement is answered 200 with group small and the model's headers", async () => {
  const { app, recorded } = await appWith();
  const response = await app.fetch(check("SELECT 1", { "X-Trino-User": "alice" }));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-trino-routing-group"), "small");
  assert.equal(response.headers.get("x-trino-router-model-version"), "heuristic-v1");
  assert.equal(response.headers.get("x-trino-router-score"), "0");
  assert.equal(response.headers.get("x-trino-router-reason"), "model");
  assert.equal(recorded.length, 1);
});

Deno.test("a heavy statement and a write are answered 200 with group large", async () => {
  const { app } = await appWith();
  const heavy = await app.fetch(check(HEAVY));
  assert.equal(heavy.status, 200);
  assert.equal(heavy.headers.get("x-trino-routing-group"), "large");
  assert.equal(heavy.headers.get("x-trino-router-score"), "1");
  const write = await app.fetch(check("INSERT INTO t SELECT 1"));
  assert.equal(write.headers.get("x-trino-routing-group"), "large");
  assert.equal(write.headers.get("x-trino-router-reason"), "write-statement");
});

Deno.test("a statement inside a transaction is answered group large; NONE is no transaction", async () => {
  const { app } = await appWith();
  const inside = await app.fetch(check("SELECT 1", { "X-Trino-Transaction-Id": "b2c4-77" }));
  assert.equal(inside.headers.get("x-trino-routing-group"), "large");
  assert.equal(inside.headers.get("x-trino-router-reason"), "transaction");
  for (const none of ["NONE", "none", ""]) {
    const outside = await app.fetch(check("SELECT 1", { "X-Trino-Transaction-Id": none }));
    assert.equal(outside.headers.get("x-trino-routing-group"), "small", none);
  }
});

Deno.test("the Trino headers reach the router as the route API's context", async () => {
  let seen: unknown;
  const router = {
    models: undefined as never,
    clusters: { small: "s", large: "l" },
    route(input: unknown) {
      seen = input;
      return Promise.reject(new Error("stop here"));
    },
  } as unknown as Router;
  const { app } = await appWith(router);
  await app.fetch(check("SELECT 1", {
    "X-Trino-User": "alice",
    "X-Trino-Source": "airflow",
    "X-Trino-Catalog": "hive",
    "X-Trino-Schema": "sales",
    "X-Trino-Client-Tags": "etl, nightly",
    "X-Trino-Session": "query_max_memory=1GB",
  }));
  assert.deepEqual(seen, {
    sqlText: "SELECT 1",
    user: "alice",
    source: "airflow",
    catalog: "hive",
    schema: "sales",
    clientTags: ["etl", "nightly"],
  });
});

Deno.test("a router failure is answered 200 with group large, reason fallback, counted", async () => {
  const failing = {
    models: undefined as never,
    clusters: { small: "s", large: "l" },
    route: () => Promise.reject(new SyntaxError("SELECT secret_column FROM x")),
  } as unknown as Router;
  const { app, lines, metrics } = await appWith(failing);
  const response = await app.fetch(check("SELECT secret_column FROM x"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-trino-routing-group"), "large");
  assert.equal(response.headers.get("x-trino-router-reason"), "fallback");
  assert.ok(
    (await metrics.registry.metrics()).includes(
      'trino_router_fallbacks_total{cause="inference-error"} 1',
    ),
  );
  assert.ok(lines.length > 0 && lines.every((line) => !line.includes("secret_column")));
});

Deno.test("a partial body (cut by Envoy) goes to large without featurizing", async () => {
  const { app, recorded } = await appWith();
  const response = await app.fetch(check("SELECT 1", { "x-envoy-auth-partial-body": "true" }));
  assert.equal(response.headers.get("x-trino-routing-group"), "large");
  assert.equal(response.headers.get("x-trino-router-reason"), "partial-body");
  assert.equal(recorded.length, 0);
});

Deno.test("anything but POST /v1/statement gets 200 with no routing opinion", async () => {
  const { app } = await appWith();
  for (
    const request of [
      new Request("http://router/ext_authz/v1/info"),
      new Request("http://router/ext_authz/small/v1/statement/executing/q/y/1"),
      new Request("http://router/ext_authz/v1/statement", { method: "DELETE" }),
    ]
  ) {
    const response = await app.fetch(request);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-trino-routing-group"), null);
  }
});

Deno.test("no log line of the ext_authz endpoint carries SQL", async () => {
  const { app, lines } = await appWith();
  await app.fetch(check("SELECT very_private_literal_42"));
  assert.ok(lines.length > 0);
  assert.ok(lines.every((line) => !line.includes("very_private_literal_42")));
});

Deno.test("a body over the router's limit sent around Envoy gets group large, never a 4xx", async () => {
  const { app, metrics } = await appWith();
  const response = await app.fetch(
    check("SELECT '" + "x".repeat(DEFAULT_CONFIG.maxBodyBytes) + "'"),
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-trino-routing-group"), "large");
  assert.equal(response.headers.get("x-trino-router-reason"), "partial-body");
  assert.match(
    await metrics.registry.metrics(),
    /trino_router_fallbacks_total\{cause="oversized-body"\} 1/,
  );
});
