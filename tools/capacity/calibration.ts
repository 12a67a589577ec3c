/**
 * The experiment's calibration: the open-loop arrival rate that keeps a server busy but not
 * overloaded, from its process CPU at a few trial rates. Pure, no I/O.
 *
 * @module
 */

/** One calibration run: the symmetric server at one arrival rate. */
export interface CalibrationPoint {
  /** Arrivals per second. */
  readonly rate: number;
  /** Queries sent. */
  readonly queries: number;
  /** Seconds from the first to the last arrival. */
  readonly arrivalSeconds: number;
  /** Seconds from the first arrival until every query ended (the run's CPU window). */
  readonly wallSeconds: number;
  /** The server process's CPU-seconds over the run's window. */
  readonly processCpuSeconds: number;
}

/** The rate that puts the calibrated server at the target share of its cores, and why. */
export interface CalibratedRate {
  readonly rate: number;
  /** Process CPU-seconds per query beyond idle, over the points used. */
  readonly cpuSecondsPerQuery: number;
  /** Points left out: their server was saturated (its window's utilisation ≥ 0.9). */
  readonly saturated: number[];
}

/**
 * The arrival rate at which a server's offered CPU is `target` of its `cores`, by the simplest
 * model that fits an open-loop workload: the server burns `idleCores` for nothing plus a fixed
 * CPU cost per query, so utilisation = (idle + rate × cost) / cores. The cost is pooled over the
 * points (total CPU beyond idle / total queries); points whose server was saturated are left out
 * (a saturated server's CPU stops growing with the rate).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { calibrateRate } from "./calibration.ts";
 * // 0.1 core idle; 2/s for 40 s used 0.1×50 + 80×0.25 = 25 CPU-s over a 50 s window.
 * const c = calibrateRate([
 *   { rate: 2, queries: 80, arrivalSeconds: 40, wallSeconds: 50, processCpuSeconds: 25 },
 * ], { idleCores: 0.1, cores: 2, target: 0.65 });
 * assert.equal(c.cpuSecondsPerQuery, 0.25);
 * assert.equal(c.rate, 4.8); // (0.65 × 2 − 0.1) / 0.25
 * ```
 */
export function calibrateRate(
  points: readonly CalibrationPoint[],
  options: { idleCores: number; cores: number; target: number },
): CalibratedRate {
  const { idleCores, cores, target } = options;
  if (!(cores > 0) || !(target > 0 && target < 1)) {
    throw new Error(`cores must be > 0 and target in (0, 1), got ${cores} and ${target}`);
  }
  const busy = (p: CalibrationPoint) => p.processCpuSeconds / (p.wallSeconds * cores);
  const saturated = points.filter((p) => busy(p) >= 0.9).map((p) => p.rate);
  const used = points.filter((p) => busy(p) < 0.9 && p.queries > 0);
  if (used.length === 0) {
    throw new Error(
      `no calibration point below saturation (rates ${points.map((p) => p.rate).join(", ")}): ` +
        "calibrate at lower rates",
    );
  }
  const beyondIdle = used.reduce(
    (s, p) => s + Math.max(0, p.processCpuSeconds - idleCores * p.wallSeconds),
    0,
  );
  const cpuSecondsPerQuery = beyondIdle / used.reduce((s, p) => s + p.queries, 0);
  if (!(cpuSecondsPerQuery > 0)) throw new Error("calibration measured no CPU per query");
  const rate = Math.max(0, target * cores - idleCores) / cpuSecondsPerQuery;
  // One decimal: the rate is a setting a reader repeats.
  return { rate: Math.round(rate * 10) / 10, cpuSecondsPerQuery, saturated };
}
