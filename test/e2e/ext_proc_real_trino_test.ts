// The transparent retry against real Trino: real Envoy (deploy/envoy/envoy.yaml, retry sections
// on), the ext_proc retry server, and the real Small and Large clusters of deploy/trino/cluster.sh
// (Small: 256 MB per query). A query routed to Small that exceeds its memory is answered, in
// full and correctly, by Large. Skipped when Envoy or either cluster is not running.
//
//   deploy/trino/cluster.sh start small && deploy/trino/cluster.sh start large
//   node_modules/.bin/deno test --allow-all test/e2e/ext_proc_real_trino_test.ts
import assert from "node:assert/strict";
import { envoyInstalled } from "../../tools/harness/envoy_process.ts";
import { sqlTemplateFingerprint } from "../../src/sql/normalize.ts";
import { startRetryStack } from "../integration/ext_proc_envoy.ts";
import { runTrinoQuery } from "../integration/ext_proc_stub_trino.ts";
import { RouterServer } from "../integration/envoy_harness.ts";

const SMALL = { host: "127.0.0.1", port: Number(Deno.env.get("TRINO_SMALL_PORT") ?? 18081) };
const LARGE = { host: "127.0.0.1", port: Number(Deno.env.get("TRINO_LARGE_PORT") ?? 18082) };
const HEADERS = {
  "x-trino-user": "ext-proc-e2e",
  "x-trino-catalog": "tpch",
  "x-trino-schema": "sf1",
};
// array_agg keeps every l_comment of tpch sf1 (6,001,215 rows) in memory: ~255 MB and over
// Small's 256 MB per-query limit after ~10 s; Large (2 GB) answers in ~15 s.
const HEAVY_SQL =
  "SELECT k, cardinality(a) FROM (SELECT orderkey % 4 k, array_agg(comment) a FROM lineitem GROUP BY 1) ORDER BY 1";
const EXPECTED = [[0, 1501764], [1, 1498367], [2, 1498822], [3, 1502262]];

async function up(target: { host: string; port: number }): Promise<boolean> {
  try {
    const response = await fetch(`http://${target.host}:${target.port}/v1/info`, {
      signal: AbortSignal.timeout(2_000),
    });
    const info = await response.json();
    return response.ok && info.starting === false;
  } catch {
    return false;
  }
}

async function queryInfo(target: { host: string; port: number }, id: string) {
  const response = await fetch(`http://${target.host}:${target.port}/v1/query/${id}`, {
    headers: { "x-trino-user": HEADERS["x-trino-user"] },
  });
  return response.ok ? await response.json() : undefined;
}

const ready = (await envoyInstalled()) && (await up(SMALL)) && (await up(LARGE));
if (!ready) console.warn("envoy or Trino small/large not running: skipping the real-Trino retry");

Deno.test({
  name: "real Trino: a query that exceeds Small's memory is answered in full by Large",
  ignore: !ready,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const stack = await startRetryStack({ small: SMALL, large: LARGE });
    try {
      const started = performance.now();
      const result = await runTrinoQuery(stack.envoy.url, HEAVY_SQL, HEADERS);
      const seconds = (performance.now() - started) / 1000;
      console.log(`client saw ${result.rows.length} rows in ${seconds.toFixed(1)} s`);
      assert.equal(result.error, undefined, JSON.stringify(result.error));
      assert.deepEqual(result.rows, EXPECTED);

      // Two queries: the one Small failed, then Large's, reached through Envoy's /large route.
      assert.equal(result.ids.length, 2, JSON.stringify(result.ids));
      const [smallId, largeId] = result.ids;
      const onSmall = await queryInfo(SMALL, smallId);
      assert.equal(onSmall?.state, "FAILED");
      assert.equal(onSmall?.errorType, "INSUFFICIENT_RESOURCES");
      const onLarge = await queryInfo(LARGE, largeId);
      assert.equal(onLarge?.state, "FINISHED");
      assert.equal(onLarge?.session?.user, HEADERS["x-trino-user"]);
      assert.equal(onLarge?.session?.catalog, "tpch");
      assert.ok(
        result.uris.some((uri) => uri.startsWith(`${stack.envoy.url}/large/v1/statement/`)),
        result.uris.join("\n"),
      );

      assert.equal(await stack.retries("retried"), 1);
      const metrics = await stack.registry.metrics();
      const retrySeconds = Number(
        metrics.match(/trino_router_retry_duration_seconds_sum (\S+)/)?.[1] ?? NaN,
      );
      console.log(
        `the POST to Large (inside Small's failing response) took ${
          (retrySeconds * 1000).toFixed(1)
        } ms`,
      );
      assert.ok(await stack.store.isTemplateHeavy(sqlTemplateFingerprint(HEAVY_SQL)));
    } finally {
      const log = await stack.stop();
      assert.ok(!log.includes("array_agg"), "no SQL in Envoy's output");
    }
  },
});

Deno.test({
  name:
    "real Trino + the real router's ext_authz: routed to Small, retried on Large, then the template goes to Large",
  ignore: !ready,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The router service with the built-in heuristic model: a short query without joins is
    // light, so the heavy aggregation goes to Small, fails there, and is retried on Large.
    const router = await RouterServer.start();
    // One store for the router and the retry server, as inside one service process.
    const stack = await startRetryStack({
      small: SMALL,
      large: LARGE,
      router: { host: "127.0.0.1", port: router.port },
      store: router.service.store,
    });
    try {
      const response = await fetch(`${stack.envoy.url}/v1/statement`, {
        method: "POST",
        body: HEAVY_SQL,
        headers: HEADERS,
      });
      assert.equal(response.headers.get("x-trino-routing-group"), "small");
      const first = await response.json();
      assert.ok(first.nextUri.includes("/small/"), first.nextUri);
      // Follow the protocol from the POST's answer on.
      const rows: unknown[][] = [];
      let doc = first;
      while (typeof doc.nextUri === "string") {
        doc = await (await fetch(doc.nextUri, { headers: HEADERS })).json();
        if (Array.isArray(doc.data)) rows.push(...doc.data);
        assert.equal(doc.error, undefined, JSON.stringify(doc.error));
      }
      assert.deepEqual(rows, EXPECTED);
      assert.notEqual(doc.id, first.id, "the result came from another query: Large's");
      assert.equal(await stack.retries("retried"), 1);

      // The failure on Small put the template into the template cache: the next run of it goes
      // straight to Large, without a second failure.
      const again = await fetch(`${stack.envoy.url}/v1/statement`, {
        method: "POST",
        body: HEAVY_SQL,
        headers: HEADERS,
      });
      assert.equal(again.headers.get("x-trino-routing-group"), "large");
      assert.equal(again.headers.get("x-trino-router-reason"), "template-cache");
      let next = await again.json();
      assert.ok(next.nextUri.includes("/large/"), next.nextUri);
      const rowsAgain: unknown[][] = [];
      while (typeof next.nextUri === "string") {
        next = await (await fetch(next.nextUri, { headers: HEADERS })).json();
        if (Array.isArray(next.data)) rowsAgain.push(...next.data);
      }
      assert.deepEqual(rowsAgain, EXPECTED);
      assert.equal(await stack.retries("retried"), 1, "no second retry was needed");
    } finally {
      await stack.stop();
      await router.stop();
    }
  },
});
