/** Guard arithmetic over the sliding window, and the hysteresis / hold time of re-arming. */
import assert from "node:assert/strict";
import {
  DEFAULT_GUARD_CONFIG,
  type GuardConfig,
  Guards,
  histogramQuantile,
  rearmBlocker,
  SlidingSums,
} from "../../src/rollout/guards.ts";

const CONFIG: GuardConfig = {
  ...DEFAULT_GUARD_CONFIG,
  windowMs: 10_000,
  fnr: { threshold: 0.01, minSamples: 20 },
  smallResourceFailure: { threshold: 0.05, minSamples: 10 },
  errorRate: { threshold: 0.0005, minSamples: 100 },
  latencyP99: { threshold: 0.05, minSamples: 100 },
  holdMs: 60_000,
  rearmRatio: 0.5,
};

const read = (guards: Guards, name: string) => guards.read().find((r) => r.guard === name)!;

Deno.test("sliding sums forget slots older than the window, slot by slot", () => {
  let now = 0;
  const sums = new SlidingSums(1, 10_000, () => now);
  sums.add([5]); // slot 0
  now = 4_000;
  sums.add([3]); // slot 4
  now = 9_999;
  assert.deepEqual(sums.totals(), [8]);
  now = 10_000; // slot 0 left the window
  assert.deepEqual(sums.totals(), [3]);
  now = 14_000;
  assert.deepEqual(sums.totals(), [0]);
  // A slot reused a window later starts from zero.
  sums.add([1]);
  assert.deepEqual(sums.totals(), [1]);
});

Deno.test("FNR guard: heavy predicted light over heavy, trips only above threshold with enough samples", () => {
  let now = 0;
  const guards = new Guards(CONFIG, () => now);
  for (let i = 0; i < 19; i++) guards.labelled("heavy", "heavy");
  guards.labelled("light", "heavy");
  // Light queries do not dilute the FNR.
  for (let i = 0; i < 500; i++) guards.labelled("light", "light");
  let fnr = read(guards, "fnr");
  assert.equal(fnr.samples, 20);
  assert.equal(fnr.value, 1 / 20);
  assert.ok(fnr.tripped);
  now = 10_000; // the window moved past all of it
  fnr = read(guards, "fnr");
  assert.equal(fnr.samples, 0);
  assert.ok(Number.isNaN(fnr.value));
  assert.ok(!fnr.tripped);
});

Deno.test("a rate equal to the threshold or under the minimum sample size does not trip", () => {
  const guards = new Guards(CONFIG, () => 0);
  for (let i = 0; i < 99; i++) guards.labelled("heavy", "heavy");
  guards.labelled("light", "heavy"); // exactly 1 %
  assert.ok(!read(guards, "fnr").tripped);
  const few = new Guards(CONFIG, () => 0);
  for (let i = 0; i < 19; i++) few.labelled("light", "heavy"); // 100 % on 19 samples
  assert.equal(read(few, "fnr").value, 1);
  assert.ok(!read(few, "fnr").tripped);
});

Deno.test("error-rate and Small resource-failure guards count their own denominators", () => {
  const guards = new Guards(CONFIG, () => 0);
  for (let i = 0; i < 99; i++) guards.routing({ seconds: 0.001, decision: "light" });
  guards.routing("failed");
  const errors = read(guards, "error-rate");
  assert.equal(errors.samples, 100);
  assert.equal(errors.value, 0.01);
  assert.ok(errors.tripped);
  assert.equal(guards.lastFailureMs, 0);
  for (let i = 0; i < 9; i++) guards.smallCompletion(false);
  guards.smallCompletion(true);
  const small = read(guards, "small-resource-failure");
  assert.equal(small.value, 0.1);
  assert.ok(small.tripped);
});

Deno.test("latency p99 is read from the window's histogram, conservatively", () => {
  assert.equal(histogramQuantile([1, 2, Infinity], [0, 0, 0], 0.99), Number.NaN);
  assert.equal(histogramQuantile([1, 2, Infinity], [99, 1, 0], 0.99), 1);
  assert.equal(histogramQuantile([1, 2, Infinity], [98, 2, 0], 0.99), 2);
  const guards = new Guards(CONFIG, () => 0);
  for (let i = 0; i < 98; i++) guards.routing({ seconds: 0.001, decision: "light" });
  guards.routing({ seconds: 0.2, decision: "heavy" });
  guards.routing({ seconds: 0.2, decision: "heavy" });
  const latency = read(guards, "latency-p99");
  assert.equal(latency.samples, 100);
  assert.equal(latency.value, 0.2);
  assert.ok(latency.tripped);
  assert.equal(guards.heavyShare().value, 0.02);
});

Deno.test("re-arming waits for the hold time, then for every guard to clear half its threshold", () => {
  const guards = new Guards(CONFIG, () => 0);
  const trippedAt = 1_000_000;
  assert.match(rearmBlocker(guards.read(), CONFIG, trippedAt, trippedAt + 59_000)!, /hold time/);
  assert.equal(rearmBlocker(guards.read(), CONFIG, trippedAt, trippedAt + 60_000), undefined);
  // 0.8 % FNR: below the 1 % trip level, above the 0.5 % re-arm level: hysteresis refuses.
  for (let i = 0; i < 992; i++) guards.labelled("heavy", "heavy");
  for (let i = 0; i < 8; i++) guards.labelled("light", "heavy");
  assert.ok(!read(guards, "fnr").tripped);
  assert.match(rearmBlocker(guards.read(), CONFIG, trippedAt, trippedAt + 60_000)!, /guard fnr/);
  guards.clear();
  assert.equal(rearmBlocker(guards.read(), CONFIG, trippedAt, trippedAt + 60_000), undefined);
});
