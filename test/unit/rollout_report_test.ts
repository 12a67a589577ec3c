/**
 * The rollout report: exit criteria per stage, and the featurization consistency measured from
 * a labeled log written by the service itself (online vectors vs the training path's).
 */
import assert from "node:assert/strict";
import { createService } from "../../src/service.ts";
import { DEFAULT_ROLLOUT_CONFIG } from "../../src/rollout/rollout_config.ts";
import { Guards } from "../../src/rollout/guards.ts";
import { exitCriteria, type ReportSnapshot } from "../../src/rollout/rollout_report.ts";
import type { RolloutState } from "../../src/rollout/rollout_state.ts";
import {
  featurizersFrom,
  formatCriteria,
  logFeatureDeviation,
  reviveSnapshot,
} from "../../tools/rollout_report.ts";
import { ADMIN_HEADERS, capturingLogger, FIXTURE_MODELS_DIR, TEST_CONFIG } from "./_fixtures.ts";
import { completedEvent } from "./_feedback_events.ts";

const state = (mode: RolloutState["mode"], changedAt = "2026-11-20T00:00:00Z"): RolloutState => ({
  mode,
  canaryPercent: 10,
  revision: 1,
  changedAt,
  changedBy: "admin",
});

function snapshot(mode: RolloutState["mode"], feed: (g: Guards) => void): ReportSnapshot {
  const guards = new Guards(undefined, () => 0);
  feed(guards);
  return {
    state: state(mode),
    championVersion: "v1",
    guards: guards.read(),
    fpr: guards.falsePositiveRate(),
    heavyShare: guards.heavyShare(),
    offlineHeavyShare: 0.06,
    crashFreeSeconds: 72 * 3600,
    confusion: {},
    at: "2026-11-24T00:00:00Z",
  };
}

const healthy = (g: Guards) => {
  for (let i = 0; i < 1880; i++) g.routing({ seconds: 0.002, decision: "light" });
  for (let i = 0; i < 120; i++) g.routing({ seconds: 0.002, decision: "heavy" });
  for (let i = 0; i < 100; i++) g.labelled("heavy", "heavy");
  for (let i = 0; i < 900; i++) g.labelled(i < 20 ? "heavy" : "light", "light");
  for (let i = 0; i < 200; i++) g.smallCompletion(false);
};

const byName = (criteria: ReturnType<typeof exitCriteria>, prefix: string) =>
  criteria.find((c) => c.name.startsWith(prefix))!;

Deno.test("canary: a healthy window held 4 days passes every criterion but the missing challenger", () => {
  const criteria = exitCriteria(snapshot("canary", healthy));
  for (const c of criteria) {
    assert.equal(c.status, c.name.startsWith("challenger") ? "SKIP" : "PASS", JSON.stringify(c));
  }
  assert.ok(byName(criteria, "Small resource-failure"));
  assert.match(formatCriteria("canary 10 %", criteria), /All exit criteria PASS/);
});

Deno.test("canary: FNR above 1 %, too few samples, or a skewed heavy share FAIL", () => {
  const bad = exitCriteria(snapshot("canary", (g) => {
    healthy(g);
    for (let i = 0; i < 5; i++) g.labelled("light", "heavy");
  }));
  assert.equal(byName(bad, "live FNR").status, "FAIL");
  const empty = exitCriteria(snapshot("canary", () => {}));
  assert.equal(byName(empty, "router latency").status, "FAIL");
  assert.match(byName(empty, "live FNR").value, /too few/);
  const skewed = exitCriteria(snapshot("canary", (g) => {
    for (let i = 0; i < 500; i++) g.routing({ seconds: 0.002, decision: "heavy" });
  }));
  assert.equal(byName(skewed, "light/heavy share").status, "FAIL");
});

Deno.test("shadow: needs featurization consistency and 48 h crash-free; no canary-only rows", () => {
  const snap = snapshot("shadow", healthy);
  const without = exitCriteria(snap);
  assert.equal(byName(without, "featurization").status, "FAIL");
  assert.equal(byName(without, "router error"), undefined);
  const consistent = exitCriteria(snap, { samples: 50, maxDeviation: 0, differingShare: 0 });
  assert.equal(byName(consistent, "featurization").status, "PASS");
  const drifted = exitCriteria(snap, { samples: 50, maxDeviation: 0.02, differingShare: 0.1 });
  assert.equal(byName(drifted, "featurization").status, "FAIL");
  const young = exitCriteria({ ...snap, crashFreeSeconds: 3600 });
  assert.equal(byName(young, "crash-free").status, "FAIL");
});

Deno.test("JSON nulls come back as NaN, so a missing rate never passes", () => {
  const snap = snapshot("canary", () => {});
  const json = JSON.parse(JSON.stringify(snap, (_k, v) => Number.isNaN(v) ? null : v));
  const revived = reviveSnapshot(json);
  assert.ok(Number.isNaN(revived.fpr.value));
  assert.equal(byName(exitCriteria(revived), "live FPR").status, "FAIL");
});

Deno.test("featurization consistency from the service's own labeled log", async () => {
  const dir = await Deno.makeTempDir();
  const logPath = `${dir}/labeled.jsonl`;
  const service = await createService({
    ...TEST_CONFIG,
    labeledLogPath: logPath,
    rollout: { ...DEFAULT_ROLLOUT_CONFIG, mode: "shadow", featureSampleRate: 1 },
  }, { logger: capturingLogger() });
  const sql = (i: number) => `SELECT * FROM orders WHERE orderdate = DATE '2025-08-1${i}'`;
  const post = (path: string, body: unknown) =>
    service.app.request(path, {
      method: "POST",
      body: JSON.stringify(body),
      headers: ADMIN_HEADERS,
    });
  try {
    for (let i = 0; i < 4; i++) {
      const queryId = `20250811_123456_0000${i}_aaaaa`;
      await post("/v1/route", {
        queryId,
        user: "alice",
        source: "trino-cli",
        sqlText: sql(i),
        sessionProperties: { catalog: "tpch", schema: "sf1" },
      });
    }
    // The sampled vectors are written just after the answer.
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (let i = 0; i < 4; i++) {
      const event = completedEvent({ queryId: `20250811_123456_0000${i}_aaaaa`, sql: sql(i) });
      assert.equal((await post("/v1/events/large", event)).status, 200);
    }
    await service.feedback.idle();
  } finally {
    await service.close();
  }
  const featurizers = await featurizersFrom(FIXTURE_MODELS_DIR);
  const same = await logFeatureDeviation(logPath, featurizers);
  assert.equal(same.samples, 4);
  assert.equal(same.maxDeviation, 0, JSON.stringify(same));
  assert.equal(same.differingShare, 0);
  // Offline sees another SQL text for one query than the router did: deviation shows.
  const lines = (await Deno.readTextFile(logPath)).trim().split("\n").map((l) => JSON.parse(l));
  lines[0].metadata.query = `${lines[0].metadata.query} AND o_custkey IN (1, 2, 3, 4, 5)`;
  await Deno.writeTextFile(logPath, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const drifted = await logFeatureDeviation(logPath, featurizers);
  assert.ok(drifted.maxDeviation > 0.01, JSON.stringify(drifted));
  assert.equal(drifted.differingShare, 0.25);
  await Deno.remove(dir, { recursive: true });
});
