/**
 * Rollout modes through real Envoy, the real router and stub Trino clusters: shadow keeps every
 * query on Large while recording decisions, shadow-route copies light reads to Small in the
 * background (never a write or a transaction), canary at 50 % splits users deterministically,
 * and the mode endpoint refuses anonymous callers.
 *
 * @module
 */

import assert from "node:assert/strict";
import { envoyInstalled } from "../../tools/harness/envoy_process.ts";
import { DEFAULT_ROLLOUT_CONFIG } from "../../src/rollout/rollout_config.ts";
import { inCanary, type RolloutMode } from "../../src/rollout/mode.ts";
import { SHADOW_COPY_TAG } from "../../src/rollout/shadow_route.ts";
import { decisionJoinKey } from "../../src/sql/join_key.ts";
import {
  CTAS_SQL,
  type EnvoyFixture,
  HEAVY_SQL,
  LIGHT_SQL,
  runQuery,
  withEnvoyFixture,
} from "./envoy_harness.ts";
import { ADMIN_HEADERS, TEST_ADMIN_TOKEN } from "../unit/_fixtures.ts";

const ignore = !(await envoyInstalled()) && !Deno.env.get("CI");
if (ignore) console.warn("envoy not installed: skipping (run .ci/install_envoy.sh)");

function withRollout(
  mode: RolloutMode,
  body: (fixture: EnvoyFixture) => Promise<void>,
  canaryPercent = 2,
): Promise<void> {
  return withEnvoyFixture(body, { pages: 2 }, ({ small }) => ({
    adminToken: TEST_ADMIN_TOKEN,
    rollout: {
      ...DEFAULT_ROLLOUT_CONFIG,
      mode,
      canaryPercent,
      featureSampleRate: 0,
      shadowRoute: {
        ...DEFAULT_ROLLOUT_CONFIG.shadowRoute,
        smallUrl: `http://127.0.0.1:${small.port}`,
        sample: 1,
        maxPerSecond: 100,
        maxConcurrency: 4,
      },
    },
  }));
}

Deno.test({
  name: "shadow: every query runs on Large while the model's decisions are recorded",
  ignore,
  fn: () =>
    withRollout("shadow", async (f) => {
      const light = await runQuery(f.url, LIGHT_SQL, { "X-Trino-User": "alice" });
      const heavy = await runQuery(f.url, HEAVY_SQL, { "X-Trino-User": "alice" });
      assert.equal(f.clusterOf(light.id), "large");
      assert.equal(f.clusterOf(heavy.id), "large");
      assert.equal(f.small.requests.length, 0, "nothing reached Small");
      assert.equal(light.postHeaders.get("x-trino-routing-group"), "large");
      const record = await f.router.service.store.getDecision(
        decisionJoinKey({ sqlText: LIGHT_SQL, user: "alice" }),
      );
      assert.equal(record?.decision, "light", "the model's own answer is kept");
      assert.equal(record?.mode, "shadow");
      assert.equal(record?.targetCluster, "trino-large.internal:8080");
    }),
});

Deno.test({
  name:
    "shadow-route: light reads are copied to Small in the background, never writes or transactions",
  ignore,
  fn: () =>
    withRollout("shadow-route", async (f) => {
      const light = await runQuery(f.url, LIGHT_SQL, { "X-Trino-User": "alice" });
      await runQuery(f.url, CTAS_SQL, { "X-Trino-User": "alice" });
      await runQuery(f.url, HEAVY_SQL, { "X-Trino-User": "alice" });
      await runQuery(f.url, "SELECT 2", {
        "X-Trino-User": "alice",
        "X-Trino-Transaction-Id": "e7f7c1d2-0000-4000-8000-000000000000",
      });
      assert.equal(f.clusterOf(light.id), "large", "the user's query ran on Large");
      // Copies are submitted after the answer; wait for them to drain.
      for (let i = 0; i < 100 && f.small.submissions.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await f.router.service.shadow.idle();
      const copies = f.small.submissions;
      assert.equal(copies.length, 1, JSON.stringify(copies));
      assert.equal(copies[0].body, LIGHT_SQL);
      assert.equal(copies[0].trinoUser, "alice");
      assert.match(copies[0].clientTags ?? "", new RegExp(SHADOW_COPY_TAG));
      assert.equal(copies[0].forwardedPrefix, null, "submitted to Small directly, not via Envoy");
      // Drained to the end: every page of the copy was fetched.
      const pages = f.small.requests.filter((r) => r.method === "GET");
      assert.equal(pages.length, 3);
      const metrics = await (await f.router.service.app.request("/metrics")).text();
      assert.match(metrics, /trino_router_shadow_route_total\{outcome="finished"\} 1/);
    }),
});

Deno.test({
  name: "canary 50 %: users split deterministically between Small and Large",
  ignore,
  fn: () =>
    withRollout("canary", async (f) => {
      const users = Array.from({ length: 16 }, (_, i) => `user-${i}`);
      const clusters = async () => {
        const out: string[] = [];
        for (const user of users) {
          out.push(f.clusterOf((await runQuery(f.url, LIGHT_SQL, { "X-Trino-User": user })).id));
        }
        return out;
      };
      const first = await clusters();
      const second = await clusters();
      assert.deepEqual(second, first, "one user, one cluster");
      assert.deepEqual(first, users.map((u) => inCanary(u, 50) ? "small" : "large"));
      assert.ok(first.includes("small") && first.includes("large"), first.join(","));
      // Heavy stays on Large for canary users too.
      const canaryUser = users.find((u) => inCanary(u, 50))!;
      const heavy = await runQuery(f.url, HEAVY_SQL, { "X-Trino-User": canaryUser });
      assert.equal(f.clusterOf(heavy.id), "large");
    }, 50),
});

Deno.test({
  name: "a mode change without the admin token is refused; with it, Envoy follows at once",
  ignore,
  fn: () =>
    withRollout("shadow", async (f) => {
      const admin = `http://127.0.0.1:${f.router.port}/v1/admin/rollout`;
      const put = (headers: Record<string, string>) =>
        fetch(admin, { method: "PUT", headers, body: JSON.stringify({ mode: "full" }) });
      const anonymous = await put({});
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      assert.equal(
        f.clusterOf((await runQuery(f.url, LIGHT_SQL)).id),
        "large",
        "still shadow",
      );
      const allowed = await put(ADMIN_HEADERS);
      assert.equal(allowed.status, 200);
      await allowed.body?.cancel();
      assert.equal(f.clusterOf((await runQuery(f.url, LIGHT_SQL)).id), "small");
    }),
});
