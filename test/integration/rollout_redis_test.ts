/**
 * The rollout across two replicas sharing a real Redis: a mode change made on one reaches the
 * other within its poll, and an FNR trip on the replica that receives the events drops the whole
 * fleet to shadow.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createService, type Service } from "../../src/service.ts";
import { DEFAULT_ROLLOUT_CONFIG } from "../../src/rollout/rollout_config.ts";
import { ADMIN_HEADERS, capturingLogger, TEST_CONFIG } from "../unit/_fixtures.ts";
import { completedEvent } from "../unit/_feedback_events.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";

const ignore = await skipRedisTests();

const SQL = "SELECT * FROM orders WHERE orderdate = DATE '2025-08-10'";

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test({
  name: "with Redis, a mode change and a guard trip reach the other replica",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await RedisServer.start();
    const replicas: Service[] = [];
    const start = async (mode: "shadow" | "full") => {
      const service = await createService({
        ...TEST_CONFIG,
        redisUrl: redis.url,
        rollout: {
          ...DEFAULT_ROLLOUT_CONFIG,
          mode,
          pollMs: 100,
          featureSampleRate: 0,
          guards: { ...DEFAULT_ROLLOUT_CONFIG.guards, fnr: { threshold: 0.01, minSamples: 3 } },
        },
      }, { logger: capturingLogger() });
      replicas.push(service);
      return service;
    };
    try {
      const a = await start("shadow");
      const b = await start("full");
      // Two replicas configured differently converge on one stored state (the last seed).
      await until(() =>
        a.store.health().state === "ok" && b.rollout.state.mode === a.rollout.state.mode &&
        b.rollout.state.revision === a.rollout.state.revision
      );
      const put = await a.app.request("/v1/admin/rollout", {
        method: "PUT",
        headers: ADMIN_HEADERS,
        body: JSON.stringify({ mode: "canary", canaryPercent: 100 }),
      });
      assert.equal(put.status, 200);
      await until(() => b.rollout.state.mode === "canary");
      // A routes (canary 100 %: light on Small) and receives Small's events, all heavy: its own
      // decisions join from its local copy, so the trip does not wait on Redis under load.
      for (let i = 0; i < 3; i++) {
        const sqlText = `${SQL} AND o_orderkey = ${i}`;
        const routed = await (await a.app.request("/v1/route", {
          method: "POST",
          body: JSON.stringify({
            user: "alice",
            source: "trino-cli",
            sqlText,
            sessionProperties: { catalog: "tpch", schema: "sf1" },
          }),
        })).json();
        assert.equal(routed.targetCluster, "small.test:8080");
        const event = completedEvent({
          queryId: `20250811_123456_0000${i}_aaaaa`,
          sql: sqlText,
          cpuSeconds: 900,
        });
        const response = await a.app.request("/v1/events/small", {
          method: "POST",
          headers: ADMIN_HEADERS,
          body: JSON.stringify(event),
        });
        assert.equal(response.status, 200);
      }
      await a.feedback.idle();
      await until(() => a.rollout.state.mode === "shadow");
      assert.equal(a.rollout.state.tripped?.guard, "fnr");
      await until(() => b.rollout.state.mode === "shadow");
      assert.equal(b.rollout.state.tripped?.guard, "fnr");
      const after = await (await b.app.request("/v1/route", {
        method: "POST",
        body: JSON.stringify({ user: "alice", sqlText: SQL }),
      })).json();
      assert.equal(after.targetCluster, "large.test:8080");
    } finally {
      for (const service of replicas) await service.close();
      await redis.stop();
    }
  },
});
