/**
 * The feedback loop against real Trino: both clusters post query-completed events to the
 * router's `/v1/events` (the URL `deploy/trino/cluster.sh` configured), the router joins them
 * with its decisions, the live confusion counts come out right, and a query that failed on
 * Small for lack of resources sends its template to Large.
 *
 * Needs both clusters (`deploy/trino/cluster.sh start small large`, or `E2E_START_TRINO=1`) and
 * the events port (`TRINO_EVENT_URL`, default 127.0.0.1:18090) free for the router.
 */
import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/config.ts";
import { createService } from "../../src/service.ts";
import { executeQuery } from "../../tools/workload/trino_client.ts";
import { ensureTrino, LARGE_PORT, SMALL_PORT, stopStartedClusters } from "./envoy_trino_harness.ts";

const EVENTS_PORT = Number(
  new URL(Deno.env.get("TRINO_EVENT_URL") ?? "http://127.0.0.1:18090").port,
);
// The token deploy/trino/cluster.sh configures in the clusters' event listeners.
const EVENT_TOKEN = Deno.env.get("TRINO_EVENT_TOKEN") ?? "trino-e2e-events";
const available = await ensureTrino();
const quiet = { info() {}, warn() {}, error() {} };

Deno.test({
  name: "completion events from both real clusters give the right live confusion counts",
  ignore: !available,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const service = await createService({
      ...DEFAULT_CONFIG,
      // The scaled thresholds of the bundled data set (data/labels.json).
      labelCpuSeconds: 3,
      labelPeakMemoryBytes: 128 * 1024 * 1024,
      defaultModelVersion: "heuristic-v1",
      adminToken: EVENT_TOKEN,
    }, { logger: quiet });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: EVENTS_PORT, onListen() {} },
      service.app.fetch,
    );
    const user = `feedback-e2e-${Date.now()}`;
    const session = { user, source: "e2e", catalog: "tpch", schema: "sf1" };
    const route = async (sqlText: string) => {
      const response = await service.app.request("/v1/route", {
        method: "POST",
        body: JSON.stringify({
          user,
          source: "e2e",
          sqlText,
          sessionProperties: { catalog: "tpch", schema: "sf1" },
        }),
      });
      return await response.json();
    };
    const run = async (sqlText: string) => {
      const decision = await route(sqlText);
      const port = decision.decision === "heavy" ? LARGE_PORT : SMALL_PORT;
      const outcome = await executeQuery(`http://127.0.0.1:${port}`, sqlText, session, {
        timeoutMs: 120_000,
      });
      return { decision, outcome };
    };
    try {
      const light = await run("SELECT count(*) FROM tpch.tiny.nation");
      assert.equal(light.decision.targetCluster, DEFAULT_CONFIG.smallCluster);
      assert.equal(light.outcome.state, "FINISHED");

      const table = `memory.default.feedback_e2e_${Date.now()}`;
      const write = await run(`CREATE TABLE ${table} AS SELECT * FROM tpch.tiny.nation`);
      assert.equal(write.decision.reason, "write-statement");
      assert.equal(write.outcome.state, "FINISHED");
      await run(`DROP TABLE ${table}`);

      // Short, no joins: light for the heuristic, far too much memory for Small.
      const memoryBomb =
        "SELECT orderkey % 4, array_agg(comment) FROM tpch.sf1.lineitem GROUP BY 1";
      const bomb = await run(memoryBomb);
      assert.equal(bomb.decision.decision, "light");
      assert.equal(bomb.outcome.errorType, "INSUFFICIENT_RESOURCES");

      // Four events (the light read, CTAS, DROP, the bomb) must all be joined before counting:
      // the writes join their decisions but, being policy and not model decisions, are never
      // counted, so only the light read (TN) and the bomb on Small (FN) reach the matrix.
      const deadline = Date.now() + 60_000;
      const joined = () =>
        Object.entries(service.feedback.stats().events)
          .filter(([key]) => key.endsWith("|joined"))
          .reduce((sum, [, n]) => sum + n, 0);
      while (Date.now() < deadline && joined() < 4) {
        await service.feedback.idle();
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(joined(), 4);
      assert.deepEqual(service.feedback.confusion()["heuristic-v1"], {
        truePositive: 0,
        falsePositive: 0,
        trueNegative: 1,
        falseNegative: 1,
      });

      const nextTime = await route(memoryBomb.replace("% 4", "% 8"));
      assert.equal(nextTime.reason, "template-cache");
      assert.equal(nextTime.targetCluster, DEFAULT_CONFIG.largeCluster);
      const metrics = await (await service.app.request("/metrics")).text();
      assert.match(
        metrics,
        /trino_router_feedback_false_negative_rate\{model_version="heuristic-v1"\} 1\n/,
      );
    } finally {
      await server.shutdown();
      await service.close();
      stopStartedClusters();
    }
  },
});
