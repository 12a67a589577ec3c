// The experiment's calibration on hand-made trial runs: CPU per query beyond idle, the rate for a
// target share of the cores, and saturated trials left out.
import assert from "node:assert/strict";
import { calibrateRate, type CalibrationPoint } from "../../tools/capacity/calibration.ts";

const point = (
  rate: number,
  queries: number,
  wallSeconds: number,
  processCpuSeconds: number,
): CalibrationPoint => ({
  rate,
  queries,
  arrivalSeconds: queries / rate,
  wallSeconds,
  processCpuSeconds,
});

Deno.test("CPU per query is pooled over the trials after each pays its idle burn", () => {
  // Idle 0.2 cores. 1/s: 40 queries, 45 s window → 9 + 40×0.3 = 21 CPU-s.
  // 2/s: 80 queries, 50 s window → 10 + 80×0.3 = 34 CPU-s. Pooled: (12 + 24) / 120 = 0.3.
  const c = calibrateRate([point(1, 40, 45, 21), point(2, 80, 50, 34)], {
    idleCores: 0.2,
    cores: 2,
    target: 0.5,
  });
  assert.ok(Math.abs(c.cpuSecondsPerQuery - 0.3) < 1e-12);
  // (0.5 × 2 − 0.2) / 0.3 = 2.67 → 2.7 queries/s.
  assert.equal(c.rate, 2.7);
  assert.deepEqual(c.saturated, []);
});

Deno.test("a saturated trial is left out: its CPU no longer grows with the rate", () => {
  // 4/s ran 160 queries but the server was busy 1.9 of its 2 cores (95 %) over a 100 s window.
  const c = calibrateRate([point(2, 80, 50, 34), point(4, 160, 100, 190)], {
    idleCores: 0.2,
    cores: 2,
    target: 0.5,
  });
  assert.deepEqual(c.saturated, [4]);
  assert.ok(Math.abs(c.cpuSecondsPerQuery - 0.3) < 1e-12);
});

Deno.test("only saturated trials, or a target outside (0, 1): a clear error", () => {
  assert.throws(
    () => calibrateRate([point(4, 160, 100, 190)], { idleCores: 0, cores: 2, target: 0.5 }),
    /no calibration point below saturation \(rates 4\)/,
  );
  assert.throws(
    () => calibrateRate([point(1, 40, 45, 21)], { idleCores: 0, cores: 2, target: 1.5 }),
    /target in \(0, 1\)/,
  );
});

Deno.test("an idle burn above the target leaves no room: rate 0", () => {
  // 80 − 1.5 × 45 = 12.5 CPU-s for 40 queries; but idle alone is 75 % of the cores.
  const c = calibrateRate([point(1, 40, 45, 80)], { idleCores: 1.5, cores: 2, target: 0.5 });
  assert.equal(c.cpuSecondsPerQuery, 0.3125);
  assert.equal(c.rate, 0);
});
