/**
 * Latency statistics of the experiment: percentiles of a class of queries, the empirical CDF,
 * and how much one configuration improves on another. Pure functions, no I/O.
 *
 * @module
 */

import { percentile } from "./demand.ts";

/** Latency percentiles (ms) of a set of completed queries. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

/**
 * Nearest-rank P50/P90/P99 of latencies in ms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeLatency } from "./latency.ts";
 * const s = summarizeLatency(Array.from({ length: 100 }, (_, i) => i + 1));
 * assert.deepEqual(s, { count: 100, p50: 50, p90: 90, p99: 99 });
 * ```
 */
export function summarizeLatency(latenciesMs: readonly number[]): LatencySummary {
  return {
    count: latenciesMs.length,
    p50: percentile(latenciesMs, 0.5),
    p90: percentile(latenciesMs, 0.9),
    p99: percentile(latenciesMs, 0.99),
  };
}

/**
 * The empirical CDF as (latency, share of queries ≤ latency) points, one per query.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cdfPoints } from "./latency.ts";
 * assert.deepEqual(cdfPoints([30, 10, 20, 40]), [[10, 0.25], [20, 0.5], [30, 0.75], [40, 1]]);
 * ```
 */
export function cdfPoints(latenciesMs: readonly number[]): Array<[number, number]> {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return sorted.map((v, i) => [v, (i + 1) / sorted.length]);
}

/**
 * Improvement of `after` over `before` as a share of `before` (0.3 = 30 % faster); `null` when
 * `before` is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { improvement } from "./latency.ts";
 * assert.equal(improvement(200, 140), 0.3);
 * ```
 */
export function improvement(before: number, after: number): number | null {
  return before === 0 ? null : Number(((before - after) / before).toFixed(12));
}
