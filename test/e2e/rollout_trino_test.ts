/**
 * The rollout against real Trino: real Envoy, the real router, both real clusters and their
 * completion events (posted by the clusters' HTTP event listener to the URL
 * `deploy/trino/cluster.sh` configured, `TRINO_EVENT_URL`, default 127.0.0.1:18090, which must be
 * free for the router). Where a query ran is asked of each cluster, never taken from the router.
 *
 * @module
 */

import assert from "node:assert/strict";
import { envoyInstalled, EnvoyProcess } from "../../tools/harness/envoy_process.ts";
import type { Config } from "../../src/config.ts";
import { inCanary, type RolloutMode } from "../../src/rollout/mode.ts";
import { DEFAULT_ROLLOUT_CONFIG } from "../../src/rollout/rollout_config.ts";
import { RouterServer, runQuery } from "../integration/envoy_harness.ts";
import { featurizersFrom, logFeatureDeviation } from "../../tools/rollout_report.ts";
import {
  ensureTrino,
  HEAVY,
  LARGE_PORT,
  LIGHT,
  SMALL_PORT,
  stopStartedClusters,
  whereRan,
} from "./envoy_trino_harness.ts";

const EVENTS_PORT = Number(
  new URL(Deno.env.get("TRINO_EVENT_URL") ?? "http://127.0.0.1:18090").port,
);
const EVENT_TOKEN = Deno.env.get("TRINO_EVENT_TOKEN") ?? "trino-e2e-events";
const ready = (await envoyInstalled()) && (await ensureTrino());
const options = { ignore: !ready, sanitizeOps: false, sanitizeResources: false };

interface Stack {
  readonly router: RouterServer;
  readonly envoy: EnvoyProcess;
  /** Runs `sql` through Envoy as `user`; the query id and where it ran. */
  run(sql: string, user: string): Promise<{ id: string; ran: string }>;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function withStack(
  mode: RolloutMode,
  rollout: Partial<Config["rollout"]>,
  body: (stack: Stack) => Promise<void>,
  config: Partial<Config> = {},
): Promise<void> {
  const router = await RouterServer.start({
    ...config,
    adminToken: EVENT_TOKEN,
    // The scaled thresholds of the bundled data set (data/labels.json).
    labelCpuSeconds: 3,
    labelPeakMemoryBytes: 128 * 1024 * 1024,
    rollout: {
      ...DEFAULT_ROLLOUT_CONFIG,
      mode,
      featureSampleRate: 0,
      pollMs: 200,
      ...rollout,
      shadowRoute: {
        ...DEFAULT_ROLLOUT_CONFIG.shadowRoute,
        smallUrl: `http://127.0.0.1:${SMALL_PORT}`,
        sample: 1,
        maxPerSecond: 10,
      },
    },
  });
  // Completion events of both clusters come to this router.
  const events = Deno.serve(
    { hostname: "127.0.0.1", port: EVENTS_PORT, onListen() {} },
    (request) => router.service.app.fetch(request),
  );
  const host = "127.0.0.1";
  const envoy = await EnvoyProcess.start({
    router: { host, port: router.port },
    small: { host, port: SMALL_PORT },
    large: { host, port: LARGE_PORT },
  }).catch(async (error) => {
    await events.shutdown();
    await router.stop();
    throw error;
  });
  const run = async (sql: string, user: string) => {
    const { id } = await runQuery(envoy.url, sql, {
      "X-Trino-User": user,
      "X-Trino-Source": "e2e",
    });
    return { id, ran: await whereRan(id) };
  };
  let failed = false;
  try {
    await body({ router, envoy, run });
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const log = await envoy.stop();
    await events.shutdown();
    await router.stop();
    if (failed) console.error(log);
  }
}

/** Queries `user` ran on Small, by statement text, from Small's own records. */
async function smallQueriesOf(user: string): Promise<{ query: string; state: string }[]> {
  const { rows } = await runQuery(
    `http://127.0.0.1:${SMALL_PORT}`,
    `SELECT query, state FROM system.runtime.queries WHERE "user" = '${user}'`,
  );
  return rows.map(([query, state]) => ({ query: String(query), state: String(state) }));
}

const labeledLogDir = await Deno.makeTempDir({ prefix: "rollout-e2e-" });
const labeledLogPath = `${labeledLogDir}/labeled.jsonl`;

Deno.test({
  name: "e2e rollout: shadow runs everything on Large, decisions recorded and joined; " +
    "online and offline features agree",
  ...options,
  fn: () =>
    withStack("shadow", { featureSampleRate: 1 }, async ({ router, run }) => {
      const user = `shadow-${Date.now()}`;
      const light = await run(LIGHT, user);
      const heavy = await run(HEAVY, user);
      assert.equal(light.ran, "large");
      assert.equal(heavy.ran, "large");
      assert.deepEqual(await smallQueriesOf(user), []);
      const counts = await until("both events joined", async () => {
        await router.service.feedback.idle();
        const c = router.service.feedback.confusion()["heuristic-v1"];
        return c && c.trueNegative + c.falsePositive + c.truePositive + c.falseNegative >= 2
          ? c
          : undefined;
      });
      // LIGHT: predicted light, really light. HEAVY (5 joins of tiny tables): predicted heavy,
      // light by its cost: the model's own decisions, measured while nothing ran on Small.
      assert.equal(counts.trueNegative, 1);
      assert.equal(counts.falsePositive, 1);
      // The vectors the router scored (Envoy's request) against the training path's (the
      // labeled log of Trino's events): the shadow stage's featurization consistency.
      await router.service.feedback.idle();
      const deviation = await logFeatureDeviation(
        labeledLogPath,
        await featurizersFrom(labeledLogDir),
      );
      assert.equal(deviation.samples, 2, JSON.stringify(deviation));
      assert.ok(deviation.maxDeviation < 0.01, JSON.stringify(deviation));
    }, { labeledLogPath }),
});

Deno.test({
  name: "e2e rollout: shadow-route copies light reads to Small (seen in its events), never a write",
  ...options,
  fn: () =>
    withStack("shadow-route", {}, async ({ router, run }) => {
      const user = `shadow-route-${Date.now()}`;
      const table = `memory.default.rollout_e2e_${Date.now()}`;
      const light = await run(LIGHT, user);
      const write = await run(`CREATE TABLE ${table} AS SELECT * FROM tpch.tiny.nation`, user);
      await run(`DROP TABLE ${table}`, user);
      assert.equal(light.ran, "large", "the user's own query ran on Large");
      assert.equal(write.ran, "large");
      await router.service.shadow.idle();
      const onSmall = await until("the copy on Small", async () => {
        const queries = await smallQueriesOf(user);
        return queries.some((q) => q.state === "FINISHED") ? queries : undefined;
      });
      assert.deepEqual(onSmall.map((q) => q.query), [LIGHT], "one copy, the read only");
      // Small's completion event of the copy reached the router as a copy.
      await until("the copy's completion event", async () => {
        await router.service.feedback.idle();
        return (router.service.feedback.stats().events["small|shadow-copy"] ?? 0) >= 1
          ? true
          : undefined;
      });
      const metrics = await (await router.service.app.request("/metrics")).text();
      assert.match(metrics, /trino_router_shadow_route_total\{outcome="finished"\} 1/);
    }),
});

Deno.test({
  name: "e2e rollout: canary 50 % splits users deterministically between the real clusters",
  ...options,
  fn: () =>
    withStack("canary", { canaryPercent: 50 }, async ({ run }) => {
      const stamp = Date.now();
      const users = Array.from({ length: 4 }, (_, i) => `canary-${stamp}-${i}`);
      for (const user of users) {
        const expected = inCanary(user, 50) ? "small" : "large";
        assert.equal((await run(LIGHT, user)).ran, expected, user);
        assert.equal((await run(LIGHT, user)).ran, expected, `${user}, again`);
      }
    }),
});

Deno.test({
  name: "e2e rollout: heavy-on-Small events trip the FNR guard, the deployment is in shadow",
  ...options,
  fn: () =>
    withStack("canary", {
      canaryPercent: 100,
      guards: {
        ...DEFAULT_ROLLOUT_CONFIG.guards,
        windowMs: 5 * 60_000,
        fnr: { threshold: 0.01, minSamples: 2 },
      },
    }, async ({ router, run }) => {
      const user = `fnr-${Date.now()}`;
      // Short, no joins: light for the heuristic, far too much memory for Small. Two templates
      // (the first one's failure sends its own template to Large).
      const bombs = ["orderkey", "partkey"].map((key) =>
        `SELECT ${key} % 4, array_agg(comment) FROM tpch.sf1.lineitem GROUP BY 1`
      );
      for (const sql of bombs) {
        const { ran } = await run(sql, user).catch(() => ({ ran: "small" }));
        assert.equal(ran, "small");
      }
      await until("the FNR guard's trip", async () => {
        await router.service.feedback.idle();
        await router.service.rollout.tick();
        return router.service.rollout.state.mode === "shadow" ? true : undefined;
      }, router.service.rollout.guards.config.windowMs);
      assert.equal(router.service.rollout.state.tripped?.guard, "fnr");
      assert.equal((await run(LIGHT, user)).ran, "large");
      const anonymous = await fetch(`http://127.0.0.1:${router.port}/v1/admin/rollout`, {
        method: "PUT",
        body: JSON.stringify({ mode: "full", rearm: true }),
      });
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      assert.equal(router.service.rollout.state.mode, "shadow");
    }),
});

addEventListener("unload", () => stopStartedClusters());
