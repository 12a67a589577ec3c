/**
 * End to end: the Trino Python client → real Envoy → real router → real Trino Small and Large
 * (deploy/trino/cluster.sh). Where a query ran is asked of each cluster
 * (`system.runtime.queries`), never taken from the router.
 *
 * @module
 */

import assert from "node:assert/strict";
import { envoyInstalled, EnvoyProcess } from "../../tools/harness/envoy_process.ts";
import { RouterServer } from "../integration/envoy_harness.ts";
import {
  askCluster,
  client as clientOn,
  type ClientResult,
  ensurePythonClient,
  ensureTrino,
  HEAVY,
  LARGE_PORT,
  LIGHT,
  SMALL_PORT,
  stopStartedClusters,
  whereRan,
} from "./envoy_trino_harness.ts";

const ready = (await envoyInstalled()) && (await ensureTrino());
const ignore = !ready;
if (ignore) {
  console.warn(
    "e2e skipped: needs Envoy (.ci/install_envoy.sh) and Trino on " +
      `${SMALL_PORT}/${LARGE_PORT} (deploy/trino/cluster.sh start small|large, ` +
      "or E2E_START_TRINO=1)",
  );
} else {
  await ensurePythonClient();
}

/** Runs `sql` through Envoy with the Trino Python client. */
function client(
  envoy: EnvoyProcess,
  sql: string,
  options: { mode?: "run" | "cancel"; headers?: Record<string, string> } = {},
): Promise<ClientResult> {
  return clientOn(envoy.port, sql, options);
}

async function withStack(
  body: (envoy: EnvoyProcess, router: RouterServer) => Promise<void>,
): Promise<void> {
  const router = await RouterServer.start();
  const host = "127.0.0.1";
  const envoy = await EnvoyProcess.start({
    router: { host, port: router.port },
    small: { host, port: SMALL_PORT },
    large: { host, port: LARGE_PORT },
  }).catch(async (error) => {
    await router.stop();
    throw error;
  });
  let failed = false;
  try {
    await body(envoy, router);
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const log = await envoy.stop();
    await router.stop();
    if (failed) console.error(log);
  }
}

const options = { ignore, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "e2e: a light query runs on Small and a heavy one on Large",
  ...options,
  fn: () =>
    withStack(async (envoy) => {
      const light = await client(envoy, LIGHT);
      const heavy = await client(envoy, HEAVY);
      assert.equal(light.error, null);
      assert.deepEqual(light.first, [25]);
      assert.equal(heavy.error, null);
      assert.deepEqual(heavy.first, [25]);
      assert.equal(await whereRan(light.queryId), "small");
      assert.equal(await whereRan(heavy.queryId), "large");
    }),
});

Deno.test({
  name: "e2e: a result of many pages comes back complete through Envoy",
  ...options,
  fn: () =>
    withStack(async (envoy) => {
      const before = await envoy.stat("cluster.trino_small.upstream_rq_total");
      const result = await client(envoy, "SELECT * FROM tpch.tiny.lineitem");
      assert.equal(result.error, null);
      assert.equal(result.rows, 60175);
      assert.equal(await whereRan(result.queryId), "small");
      const requests = await envoy.stat("cluster.trino_small.upstream_rq_total") - before;
      assert.ok(requests > 3, `only ${requests} requests: not a multi-page result`);
      assert.equal(await envoy.stat("cluster.trino_large.upstream_rq_total"), 0);
    }),
});

Deno.test({
  name: "e2e: router stopped, slow or failing: queries succeed, all on Large",
  ...options,
  fn: () =>
    withStack(async (envoy, router) => {
      await router.shutdown();
      const down = await client(envoy, LIGHT);
      router.listen();
      router.fault = "slow";
      const slow = await client(envoy, LIGHT);
      router.fault = "error500";
      const failing = await client(envoy, LIGHT);
      for (const [name, result] of [["down", down], ["slow", slow], ["500", failing]] as const) {
        assert.equal(result.error, null, name);
        assert.deepEqual(result.first, [25], name);
        assert.equal(await whereRan(result.queryId), "large", name);
      }
    }),
});

Deno.test({
  name: "e2e: a client-supplied routing header is ignored",
  ...options,
  fn: () =>
    withStack(async (envoy, router) => {
      const heavy = await client(envoy, HEAVY, { headers: { "X-Trino-Routing-Group": "small" } });
      const light = await client(envoy, LIGHT, { headers: { "X-Trino-Routing-Group": "large" } });
      await router.shutdown();
      const down = await client(envoy, LIGHT, { headers: { "X-Trino-Routing-Group": "small" } });
      assert.equal(await whereRan(heavy.queryId), "large");
      assert.equal(await whereRan(light.queryId), "small");
      assert.equal(await whereRan(down.queryId), "large");
    }),
});

Deno.test({
  name: "e2e: DELETE of a running query cancels it on the cluster that runs it",
  ...options,
  fn: () =>
    withStack(async (envoy) => {
      // Both stream far more rows than the client reads, so they are running when cancelled.
      const light = await client(envoy, "SELECT * FROM tpch.sf1.lineitem", { mode: "cancel" });
      const heavy = await client(
        envoy,
        "SELECT * FROM tpch.sf1.lineitem l JOIN tpch.tiny.nation n ON l.suppkey % 25 = n.nationkey" +
          " JOIN tpch.tiny.region r ON n.regionkey = r.regionkey JOIN tpch.tiny.nation n2" +
          " ON n2.nationkey = n.nationkey JOIN tpch.tiny.region r2 ON r2.regionkey = n2.regionkey",
        { mode: "cancel" },
      );
      for (
        const [result, cluster, port] of [[light, "small", SMALL_PORT], [
          heavy,
          "large",
          LARGE_PORT,
        ]] as const
      ) {
        assert.equal(result.error, null, cluster);
        assert.equal(await whereRan(result.queryId), cluster);
        let state = await askCluster(port, result.queryId!);
        for (let i = 0; i < 50 && state?.state !== "FAILED"; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          state = await askCluster(port, result.queryId!);
        }
        assert.deepEqual(state, { state: "FAILED", errorCode: "USER_CANCELED" }, cluster);
      }
    }),
});

Deno.test({
  name: "e2e: a CTAS into the memory catalog runs on Large",
  ...options,
  fn: () =>
    withStack(async (envoy) => {
      const table = `memory.default.envoy_e2e_${crypto.randomUUID().replaceAll("-", "")}`;
      const ctas = await client(envoy, `CREATE TABLE ${table} AS SELECT 1 AS x`);
      assert.equal(ctas.error, null);
      assert.equal(await whereRan(ctas.queryId), "large");
      const drop = await client(envoy, `DROP TABLE ${table}`);
      assert.equal(drop.error, null);
      assert.equal(await whereRan(drop.queryId), "large");
    }),
});

globalThis.addEventListener("unload", stopStartedClusters);
