/**
 * End-to-end test against real Trino: starts (or reuses) the Small and Large test clusters with
 * `deploy/trino/cluster.sh`, proves a heavy query fails on Small with an INSUFFICIENT_RESOURCES
 * error and succeeds on Large, and that the HTTP event listener's query-completed events reach
 * a collector in the shape `src/labels/query_event.ts` reads.
 *
 * Run: `npx deno test -A test/e2e/trino_cluster_test.ts` (first run downloads ~820 MB of Trino
 * into ~/.cache/trino-smart-router; later starts take ~15–30 s per cluster). Nothing is skipped:
 * if Trino cannot start, the test fails.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startCollector } from "../../tools/workload/collector.ts";
import { executeQuery } from "../../tools/workload/trino_client.ts";
import {
  durationSeconds,
  isResourceFailure,
  labelEvent,
  type QueryCompletedEvent,
  RESOURCE_ERROR_TYPE,
} from "../../src/labels/query_event.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SMALL = `http://127.0.0.1:${Deno.env.get("TRINO_SMALL_PORT") ?? "18081"}`;
const LARGE = `http://127.0.0.1:${Deno.env.get("TRINO_LARGE_PORT") ?? "18082"}`;
const EVENT_URL = new URL(Deno.env.get("TRINO_EVENT_URL") ?? "http://127.0.0.1:18090/v1/events");

/**
 * Builds a ~250–350 MB hash table on tpch.sf1: above Small's 256 MB per-node limit, well within
 * Large's 2 GB.
 */
const HEAVY_SQL = `SELECT partkey, array_agg(comment) AS comments
FROM tpch.sf1.lineitem
GROUP BY partkey
ORDER BY cardinality(comments) DESC
LIMIT 3`;

async function startClusters(): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: [`${ROOT}deploy/trino/cluster.sh`, "start", "small", "large"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `cluster.sh start failed (exit ${out.code}):\n${log}`);
}

Deno.test({
  name: "real Trino: heavy query fails on Small with a resource error, succeeds on Large",
  // Deno's sanitizers flag the collector's server and fetch bodies drained by Trino polling.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await startClusters();

    let collector;
    try {
      collector = await startCollector({ port: Number(EVENT_URL.port) });
    } catch (e) {
      throw new Error(
        `cannot listen on ${EVENT_URL.host} for Trino's events (is a workload run using it?): ${e}`,
      );
    }
    try {
      const session = { user: "e2e", source: "e2e-test", catalog: "tpch", schema: "tiny" };
      const opts = { timeoutMs: 180_000 };

      let smallHeavyId = "";
      await t.step("heavy query fails on Small with INSUFFICIENT_RESOURCES", async () => {
        const small = await executeQuery(SMALL, HEAVY_SQL, session, opts);
        smallHeavyId = small.queryId;
        assert.deepStrictEqual(small.state, "FAILED", JSON.stringify(small));
        assert.deepStrictEqual(small.errorType, RESOURCE_ERROR_TYPE, JSON.stringify(small));
      });

      let largeHeavyId = "";
      await t.step("the same query succeeds on Large", async () => {
        const large = await executeQuery(LARGE, HEAVY_SQL, session, opts);
        largeHeavyId = large.queryId;
        assert.deepStrictEqual(large.state, "FINISHED", JSON.stringify(large));
        assert.deepStrictEqual(large.rows, 3);
      });

      await t.step("query-completed events arrive and label as the router expects", async () => {
        const light = await executeQuery(LARGE, "SELECT count(*) FROM nation", session, opts);
        assert.deepStrictEqual(light.state, "FINISHED");
        const ids = [smallHeavyId, largeHeavyId, light.queryId];
        const missing = await collector.waitFor(ids, 60_000);
        assert.deepStrictEqual(missing, [], "no query-completed event for these queries");

        const ev = (id: string) => collector.events.get(id) as unknown as QueryCompletedEvent;
        const failed = ev(smallHeavyId);
        assert.deepStrictEqual(failed.metadata.queryState, "FAILED");
        assert.ok(isResourceFailure(failed), JSON.stringify(failed.failureInfo?.errorCode));
        assert.deepStrictEqual(
          labelEvent(failed, { cpuSeconds: 3, peakMemoryBytes: 2 ** 27 }, "read"),
          {
            heavy: true,
            because: "resource-error",
          },
        );

        const ok = ev(largeHeavyId);
        assert.deepStrictEqual(ok.metadata.queryState, "FINISHED");
        assert.deepStrictEqual(ok.metadata.query, HEAVY_SQL);
        assert.deepStrictEqual(ok.context.user, "e2e");
        assert.deepStrictEqual(ok.context.source, "e2e-test");
        // Real shape: durations are JSON numbers in seconds; createTime is ISO-8601.
        assert.deepStrictEqual(typeof ok.statistics.cpuTime, "number");
        assert.ok(durationSeconds(ok.statistics.cpuTime) > 0.5);
        assert.ok((ok.statistics.peakUserMemoryBytes ?? 0) > 2 ** 27);
        assert.deepStrictEqual(typeof ok.createTime, "string");
        assert.ok(Number.isFinite(Date.parse(String(ok.createTime))));
        assert.deepStrictEqual(ev(light.queryId).failureInfo ?? undefined, undefined);
      });
    } finally {
      await collector.close();
    }
  },
});
