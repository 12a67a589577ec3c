// The capacity planner on small synthetic logs whose right answers are worked out by hand in the
// comments, plus one run of the whole command path (log → replay → plan) on the fixture log.
import assert from "node:assert/strict";
import { demandOf, percentile } from "../../tools/capacity/demand.ts";
import {
  nodesFor,
  place,
  planCapacity,
  planFromFigures,
  type RoutedQuery,
} from "../../tools/capacity/planner.ts";
import { planLog, queryLoadOfEvent } from "../../tools/capacity/plan.ts";

const MIN = 60_000;
const FIXTURE_LOG = new URL("../fixtures/query_log_small.jsonl", import.meta.url).pathname;

function query(over: Partial<RoutedQuery> & { queryId: string }): RoutedQuery {
  return {
    start: 0,
    end: MIN,
    cpuSeconds: 0,
    peakMemoryBytes: 0,
    heavy: false,
    predictedHeavy: false,
    modelDecided: true,
    score: 0,
    resourceFailure: false,
    ...over,
  };
}

const LIMITS = { maxCpuSeconds: 30, maxMemoryBytes: 1000 };

Deno.test("CPU-seconds are spread evenly over the interval into the buckets it covers", () => {
  // A: 90 CPU-s over 0:30–2:00 (1 CPU-s per s) → 30 s in minute 0, 60 s in minute 1.
  // B: 60 CPU-s over 1:00–1:30 (2 per s)       → all 60 in minute 1.
  // Minute 0: 30 CPU-s / 60 s = 0.5 cores; minute 1: 120 / 60 = 2 cores.
  const d = demandOf([
    { start: 30_000, end: 2 * MIN, cpuSeconds: 90, peakMemoryBytes: 100 },
    { start: MIN, end: 90_000, cpuSeconds: 60, peakMemoryBytes: 50 },
  ], MIN);
  assert.deepEqual(d.coresPerBucket, [0.5, 2]);
  assert.equal(d.cpuSeconds, 150);
  assert.equal(d.meanCores, 1.25); // 150 CPU-s over two minutes
  assert.equal(d.peakCores, 2);
  assert.equal(d.peakConcurrency, 2); // both run between 1:00 and 1:30
  assert.equal(d.peakMemoryBytes, 150);
});

Deno.test("P95 concurrency is time-weighted: a short burst does not set it", () => {
  // One query runs for 100 s; nine more overlap it for 1 s only. Concurrency is 10 for 1 % of
  // the window and 1 for 99 %, so P95 is 1 and the peak 10.
  const long = { start: 0, end: 100_000, cpuSeconds: 1, peakMemoryBytes: 0 };
  const burst = Array.from({ length: 9 }, () => ({
    start: 50_000,
    end: 51_000,
    cpuSeconds: 0,
    peakMemoryBytes: 0,
  }));
  const d = demandOf([long, ...burst], 100_000);
  assert.equal(d.peakConcurrency, 10);
  assert.equal(d.p95Concurrency, 1);
});

Deno.test("queries back to back do not overlap (half-open intervals)", () => {
  const d = demandOf([
    { start: 0, end: 1000, cpuSeconds: 1, peakMemoryBytes: 7 },
    { start: 1000, end: 2000, cpuSeconds: 1, peakMemoryBytes: 7 },
  ], 1000);
  assert.equal(d.peakConcurrency, 1);
  assert.equal(d.peakMemoryBytes, 7);
  assert.deepEqual(d.coresPerBucket, [1, 1]);
});

Deno.test("percentile is nearest-rank", () => {
  const values = Array.from({ length: 20 }, (_, i) => i + 1); // 1..20
  assert.equal(percentile(values, 0.95), 19); // rank ceil(0.95 · 20) = 19
  assert.equal(percentile(values, 1), 20);
  assert.equal(percentile([], 0.95), 0);
});

Deno.test("a misrouted heavy query burns Small up to its cap, then runs in full on Large", () => {
  // 120 CPU-s over 0–2 min; Small's cap 30 s is reached after a quarter of the interval (30 s),
  // then the retry runs the whole query on Large from 0:30 to 2:30.
  const p = place([query({ queryId: "h", heavy: true, cpuSeconds: 120, end: 2 * MIN })], LIMITS);
  assert.equal(p.retried, 1);
  assert.deepEqual(p.confusion, {
    truePositive: 0,
    falseNegative: 1,
    falsePositive: 0,
    trueNegative: 0,
  });
  assert.equal(p.fnr, 1);
  assert.deepEqual(p.small, [{ start: 0, end: 30_000, cpuSeconds: 30, peakMemoryBytes: 0 }]);
  assert.equal(p.large.length, 1);
  assert.equal(p.large[0].start, 30_000);
  assert.equal(p.large[0].end, 150_000);
  assert.equal(p.large[0].cpuSeconds, 120);
  assert.equal(p.heavyCpuSecondsOnSmall, 30);
});

Deno.test("a misrouted heavy query within Small's caps completes there, without a retry", () => {
  // Heavy by the label (say a 10 s threshold) yet under Small's 30 s cap and memory cap.
  const p = place([query({ queryId: "h", heavy: true, cpuSeconds: 20 })], LIMITS);
  assert.equal(p.retried, 0);
  assert.equal(p.small.length, 1);
  assert.equal(p.large.length, 0);
  assert.equal(p.heavyCpuSecondsOnSmall, 20);
});

Deno.test("a resource failure or too much memory on Small means a retry even under the CPU cap", () => {
  const p = place([
    query({ queryId: "r", heavy: true, cpuSeconds: 5, resourceFailure: true }),
    query({ queryId: "m", heavy: true, cpuSeconds: 5, peakMemoryBytes: 5000 }),
  ], LIMITS);
  assert.equal(p.retried, 2);
  assert.equal(p.large.length, 2);
  // Small held each until it failed: memory counted at most at Small's cap.
  assert.deepEqual(p.small.map((q) => q.peakMemoryBytes), [0, 1000]);
});

Deno.test("a threshold re-decides only model-decided rows; writes stay on Large", () => {
  const rows = [
    query({ queryId: "a", score: 0.2 }),
    query({ queryId: "b", score: 0.6, heavy: true, predictedHeavy: true }),
    query({ queryId: "w", score: 1, heavy: true, predictedHeavy: true, modelDecided: false }),
  ];
  const strict = place(rows, LIMITS, 0.1); // everything ≥ 0.1 is heavy
  assert.deepEqual(strict.confusion, {
    truePositive: 2,
    falseNegative: 0,
    falsePositive: 1,
    trueNegative: 0,
  });
  assert.equal(strict.fpr, 1);
  const lax = place(rows, LIMITS, 0.9); // only the write stays heavy
  assert.deepEqual(lax.confusion, {
    truePositive: 1,
    falseNegative: 1,
    falsePositive: 0,
    trueNegative: 1,
  });
  assert.equal(lax.fnr, 0.5);
});

Deno.test("nodes keep the P95 demand under the target utilisation, and hold peak memory", () => {
  assert.equal(nodesFor(7, 0, 10, 0.7), 1); // 7 cores on one 10-core node at 70 %: exactly full
  assert.equal(nodesFor(7.1, 0, 10, 0.7), 2);
  assert.equal(nodesFor(1, 5 * 2 ** 30, 10, 0.7, 2 ** 30), 5); // memory decides
  assert.throws(() => nodesFor(1, 0, 10, 0), /utilisation/);
});

Deno.test("a hand-computed plan: split against symmetric, with misroute headroom", () => {
  // Two one-minute buckets, nodes of 1 core at 100 % so nodes = ceil(P95 cores).
  // Light L1: 30 CPU-s in minute 0 (0.5 cores). Light L2: 30 CPU-s in minute 1.
  // Heavy H: 120 CPU-s over both minutes (1 core each). Write W: 60 CPU-s in minute 1.
  // All routed correctly. Symmetric: minute 0 = 1.5, minute 1 = 2.5 → P95 2.5 → 3 nodes.
  // Small: 0.5, 0.5 → 1 node; Large: 1, 2 → 2 nodes.
  // Assumed FNR 50 %: Small also carries half of H's capped CPU (cap 30 s → 15 CPU-s spread
  // over two minutes: 0.125 cores each) → sizing 0.625 → still 1 node.
  const rows = [
    query({ queryId: "l1", cpuSeconds: 30 }),
    query({ queryId: "l2", cpuSeconds: 30, start: MIN, end: 2 * MIN }),
    query({ queryId: "h", cpuSeconds: 120, end: 2 * MIN, heavy: true, predictedHeavy: true }),
    query({
      queryId: "w",
      cpuSeconds: 60,
      start: MIN,
      end: 2 * MIN,
      heavy: true,
      predictedHeavy: true,
      modelDecided: false,
    }),
  ];
  const plan = planCapacity(rows, {
    bucketMs: MIN,
    nodeCores: 1,
    nodeCost: 100,
    targetUtil: 1,
    routerCores: 0.5, // half a node: 50
    small: LIMITS,
    assumedFnr: 0.5,
  });
  assert.deepEqual(plan.symmetric.demand.coresPerBucket, [1.5, 2.5]);
  assert.equal(plan.symmetric.nodes, 3);
  assert.deepEqual(plan.small.demand.coresPerBucket, [0.5, 0.5]);
  assert.equal(plan.small.headroomCores, 0.125);
  assert.equal(plan.small.nodes, 1);
  assert.deepEqual(plan.large.demand.coresPerBucket, [1, 2]);
  assert.equal(plan.large.nodes, 2);
  assert.equal(plan.routerCost, 50);
  // Now = symmetric right-sized: 300. Routed: 100 + 200 + 50 = 350 → −16.7 %.
  assert.equal(plan.now.basis, "symmetric");
  assert.equal(plan.routedCost, 350);
  assert.ok(Math.abs(plan.ctsReduction - (1 - 350 / 300)) < 1e-12);
  // With today's fleet given as 6 nodes (600): 1 − 350/600.
  const given = planCapacity(rows, {
    bucketMs: MIN,
    nodeCores: 1,
    nodeCost: 100,
    targetUtil: 1,
    routerCores: 0.5,
    small: LIMITS,
    currentNodes: 6,
  });
  assert.equal(given.now.cost, 600);
  assert.ok(Math.abs(given.now.meanUtil - 2 / 6) < 1e-12); // 240 CPU-s / 120 s = 2 cores of 6
  assert.ok(Math.abs(given.ctsReduction - (1 - 350 / 600)) < 1e-12);
});

Deno.test("the design document's figures (section 7.3), computed by hand", () => {
  // 405 nodes × 105 cores × 55 % = 23,388.75 cores; light 5 % = 1,169.4375, heavy 22,219.3125.
  // Small: 2,500 × (1 − 3 % FPR) + 1 % × 22,219.3125 = 2,647.193 cores; at 70 % of 105 (73.5)
  // → 36.02 → 37 nodes. Large: 22,219.3125 + 3 % × 1,169.4375 = 22,254.39 → 302.78 → 303.
  // Router 525 cores = 5 nodes. Routed 345 nodes vs 405: 14.8 % saved.
  const figures = {
    currentNodes: 405,
    currentUtil: 0.55,
    lightCpuShare: 0.05,
    lightPeakCores: 2500,
    assumedFnr: 0.01,
    assumedFpr: 0.03,
  };
  const sizing = { nodeCores: 105, nodeCost: 1, targetUtil: 0.7, routerCores: 525 };
  const at70 = planFromFigures(figures, sizing);
  assert.equal(at70.smallNodes, 37);
  assert.equal(at70.largeNodes, 303);
  assert.equal(at70.routedCost, 345);
  assert.ok(Math.abs(at70.ctsReduction - (1 - 345 / 405)) < 1e-12);
  // Running both at 80 % (84 cores a node): Small 2,647.19 / 84 = 31.5 → 32, Large 264.9 → 265.
  const at80 = planFromFigures(figures, { ...sizing, targetUtil: 0.8 });
  assert.equal(at80.smallNodes, 32);
  assert.equal(at80.largeNodes, 265);
  assert.equal(at80.routedCost, 302); // the document's "300"
});

Deno.test("an event's execution interval excludes its queueing", () => {
  const load = queryLoadOfEvent(
    {
      metadata: { queryId: "q" },
      statistics: { cpuTime: 1, wallTime: 10 },
      context: {},
      createTime: "2026-01-01T00:00:00Z",
      endTime: "2026-01-01T00:00:10Z",
      executionStartTime: "2026-01-01T00:00:04Z",
    } as Parameters<typeof queryLoadOfEvent>[0],
  );
  assert.equal(load.start, Date.parse("2026-01-01T00:00:04Z"));
  assert.equal(load.end - load.start, 6000);
});

Deno.test("the whole command path on the fixture log: every CPU-second lands on a cluster", async () => {
  const result = await planLog({
    log: FIXTURE_LOG,
    model: "heuristic-v1",
    modelsDir: new URL("../fixtures/models", import.meta.url).pathname,
    split: "all",
    bucketMs: MIN,
    nodeCores: 4,
    nodeCost: 10,
    targetUtil: 0.7,
    routerCores: 1,
  });
  const { plan, queries } = result;
  const total = queries.reduce((s, q) => s + q.cpuSeconds, 0);
  assert.ok(total > 0);
  assert.ok(Math.abs(plan.symmetric.demand.cpuSeconds - total) < 1e-6);
  // Small and Large together run everything once, plus what failed attempts burned on Small
  // before their retry (worked out here from the rows, independently of the planner).
  const cap = result.options.small;
  const burned = queries
    .filter((q) => q.heavy && !q.predictedHeavy)
    .filter((q) =>
      q.resourceFailure || q.cpuSeconds > cap.maxCpuSeconds ||
      q.peakMemoryBytes > cap.maxMemoryBytes
    )
    .reduce((s, q) => s + Math.min(q.cpuSeconds, cap.maxCpuSeconds), 0);
  const split = plan.small.demand.cpuSeconds + plan.large.demand.cpuSeconds;
  assert.ok(Math.abs(split - (total + burned)) < 1e-6, `${split} vs ${total} + ${burned}`);
  const c = plan.placement.confusion;
  assert.equal(c.truePositive + c.falseNegative + c.falsePositive + c.trueNegative, queries.length);
  assert.ok(result.sensitivity.length > 0);
});
