/**
 * Resource demand of a set of queries over time: cores busy per time bucket, concurrency and
 * memory, from each query's CPU-seconds and execution interval. Pure functions, no I/O.
 *
 * @module
 */

/** One query's footprint: when it executed and what it used. */
export interface QueryLoad {
  /** Execution start, epoch ms. */
  readonly start: number;
  /** End, epoch ms (≥ `start`). */
  readonly end: number;
  readonly cpuSeconds: number;
  readonly peakMemoryBytes: number;
}

/** Demand of one cluster (or the whole fleet) over a time window. */
export interface Demand {
  /** Window start (epoch ms) and bucket width (ms) of {@linkcode Demand.coresPerBucket}. */
  readonly from: number;
  readonly bucketMs: number;
  /** Average cores busy in each bucket: CPU-seconds spent in it ÷ bucket seconds. */
  readonly coresPerBucket: readonly number[];
  readonly cpuSeconds: number;
  readonly meanCores: number;
  /** 95th percentile of {@linkcode Demand.coresPerBucket} (nearest rank). */
  readonly p95Cores: number;
  readonly peakCores: number;
  /** Most queries executing at one instant. */
  readonly peakConcurrency: number;
  /** Concurrency not exceeded 95 % of the time (time-weighted over the window). */
  readonly p95Concurrency: number;
  /** Most memory held at one instant, if every query held its peak for its whole interval. */
  readonly peakMemoryBytes: number;
  readonly queries: number;
}

/**
 * Nearest-rank percentile (`q` in [0, 1]) of unsorted values; 0 for none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { percentile } from "./demand.ts";
 * assert.equal(percentile([5, 1, 3, 2, 4], 0.95), 5);
 * assert.equal(percentile([5, 1, 3, 2, 4], 0.5), 3);
 * ```
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** The window `[from, to)` covering every query, aligned down to whole buckets. */
export function demandWindow(
  loads: readonly QueryLoad[],
  bucketMs: number,
): { from: number; to: number } {
  if (loads.length === 0) return { from: 0, to: bucketMs };
  let from = Infinity, to = -Infinity;
  for (const q of loads) {
    from = Math.min(from, q.start);
    to = Math.max(to, q.end);
  }
  from = Math.floor(from / bucketMs) * bucketMs;
  return { from, to: Math.max(from + bucketMs, Math.ceil(to / bucketMs) * bucketMs) };
}

/**
 * Demand of `loads` in `[window.from, window.to)`: each query's CPU-seconds are spread evenly
 * over its interval (a query shorter than a millisecond puts all of them at its start), so a
 * bucket's cores are the CPU-seconds that fall in it divided by its length. Pass the same window
 * for several clusters so their series line up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { demandOf } from "./demand.ts";
 * // One query, 120 CPU-s over two minutes: one core busy in each of two one-minute buckets.
 * const d = demandOf([{ start: 0, end: 120_000, cpuSeconds: 120, peakMemoryBytes: 1 }], 60_000);
 * assert.deepEqual(d.coresPerBucket, [1, 1]);
 * assert.equal(d.peakConcurrency, 1);
 * ```
 */
export function demandOf(
  loads: readonly QueryLoad[],
  bucketMs: number,
  window = demandWindow(loads, bucketMs),
): Demand {
  if (!(bucketMs > 0)) throw new RangeError(`bucket width must be positive, got ${bucketMs}`);
  const buckets = Math.max(1, Math.ceil((window.to - window.from) / bucketMs));
  const cpu = new Array<number>(buckets).fill(0);
  let cpuSeconds = 0;
  for (const q of loads) {
    cpuSeconds += q.cpuSeconds;
    const length = q.end - q.start;
    if (!(length >= 1)) {
      cpu[bucketIndex(q.start, window.from, bucketMs, buckets)] += q.cpuSeconds;
      continue;
    }
    const rate = q.cpuSeconds / length; // CPU-seconds per ms of the interval
    const first = bucketIndex(q.start, window.from, bucketMs, buckets);
    const last = bucketIndex(q.end - 1e-9, window.from, bucketMs, buckets);
    for (let b = first; b <= last; b++) {
      const lo = Math.max(q.start, window.from + b * bucketMs);
      const hi = Math.min(q.end, window.from + (b + 1) * bucketMs);
      if (hi > lo) cpu[b] += rate * (hi - lo);
    }
  }
  const seconds = bucketMs / 1000;
  const coresPerBucket = cpu.map((c) => c / seconds);
  const sweep = concurrencySweep(loads, window);
  return {
    from: window.from,
    bucketMs,
    coresPerBucket,
    cpuSeconds,
    meanCores: cpuSeconds / ((buckets * bucketMs) / 1000),
    p95Cores: percentile(coresPerBucket, 0.95),
    peakCores: Math.max(0, ...coresPerBucket),
    peakConcurrency: sweep.peakConcurrency,
    p95Concurrency: sweep.p95Concurrency,
    peakMemoryBytes: sweep.peakMemoryBytes,
    queries: loads.length,
  };
}

function bucketIndex(t: number, from: number, bucketMs: number, buckets: number): number {
  return Math.min(buckets - 1, Math.max(0, Math.floor((t - from) / bucketMs)));
}

/**
 * One pass over start/end events: peak concurrency, peak memory and the time-weighted 95th
 * percentile of concurrency. Intervals are half-open, so a query ending when another starts
 * does not overlap it.
 */
function concurrencySweep(
  loads: readonly QueryLoad[],
  window: { from: number; to: number },
): { peakConcurrency: number; p95Concurrency: number; peakMemoryBytes: number } {
  // Ends sort before starts at the same instant (half-open intervals).
  const events = loads.flatMap((q) =>
    q.end > q.start
      ? [
        { t: q.start, d: 1, m: q.peakMemoryBytes },
        { t: q.end, d: -1, m: -q.peakMemoryBytes },
      ]
      : []
  ).sort((a, b) => a.t - b.t || a.d - b.d);
  const timeAt = new Map<number, number>();
  let level = 0, memory = 0, peak = 0, peakMemory = 0, previous = window.from;
  for (const e of events) {
    timeAt.set(level, (timeAt.get(level) ?? 0) + Math.max(0, e.t - previous));
    previous = Math.max(previous, e.t);
    level += e.d;
    memory += e.m;
    peak = Math.max(peak, level);
    peakMemory = Math.max(peakMemory, memory);
  }
  timeAt.set(level, (timeAt.get(level) ?? 0) + Math.max(0, window.to - previous));
  // Instant queries (no interval) still count towards peaks.
  for (const q of loads) {
    if (q.end <= q.start) {
      peak = Math.max(peak, 1);
      peakMemory = Math.max(peakMemory, q.peakMemoryBytes);
    }
  }
  const total = [...timeAt.values()].reduce((s, v) => s + v, 0);
  let p95 = 0, seen = 0;
  for (const [lvl, ms] of [...timeAt].sort(([a], [b]) => a - b)) {
    seen += ms;
    p95 = lvl;
    if (total === 0 || seen >= 0.95 * total) break;
  }
  return { peakConcurrency: peak, p95Concurrency: p95, peakMemoryBytes: peakMemory };
}
