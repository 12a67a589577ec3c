/**
 * Automatic-rollback guards: rates and a latency quantile over a sliding time window, each with
 * a threshold and a minimum sample size. Pure arithmetic on an injected clock; the rollout
 * control decides what a trip does.
 *
 * @module
 */

/** The guards, by name. */
export type GuardName = "fnr" | "small-resource-failure" | "error-rate" | "latency-p99";

/** All guard names, in report order. */
export const GUARD_NAMES: readonly GuardName[] = [
  "fnr",
  "small-resource-failure",
  "error-rate",
  "latency-p99",
];

/** When a guard trips: value above `threshold` with at least `minSamples` samples in the window. */
export interface GuardLimit {
  readonly threshold: number;
  readonly minSamples: number;
}

/** Window and limits of every guard. */
export interface GuardConfig {
  /** Length of the sliding window in milliseconds. */
  readonly windowMs: number;
  /** Live FNR: heavy queries predicted light / heavy queries (design: 1 %). */
  readonly fnr: GuardLimit;
  /** Resource failures / completed queries on Small. */
  readonly smallResourceFailure: GuardLimit;
  /** Routing failures (fallbacks to Large) / routing attempts (design: 0.05 %). */
  readonly errorRate: GuardLimit;
  /** Decision latency p99 in seconds (the router's 50 ms budget). */
  readonly latencyP99: GuardLimit;
  /**
   * Re-arming is refused while a guard reads above `threshold × rearmRatio` (with enough
   * samples): the hysteresis that keeps a deployment from bouncing on a borderline value.
   */
  readonly rearmRatio: number;
  /** Re-arming is refused for this long after a trip, in milliseconds (the hold time). */
  readonly holdMs: number;
}

/** Defaults: 5 min window, the design's thresholds, 10 min hold, re-arm below half a threshold. */
export const DEFAULT_GUARD_CONFIG: GuardConfig = {
  windowMs: 5 * 60_000,
  fnr: { threshold: 0.01, minSamples: 20 },
  smallResourceFailure: { threshold: 0.01, minSamples: 100 },
  errorRate: { threshold: 0.0005, minSamples: 2_000 },
  latencyP99: { threshold: 0.05, minSamples: 100 },
  rearmRatio: 0.5,
  holdMs: 10 * 60_000,
};

/** One guard's state over the current window. */
export interface GuardReading {
  readonly guard: GuardName;
  /** The rate (0–1) or the p99 in seconds; `NaN` without samples. */
  readonly value: number;
  readonly samples: number;
  readonly threshold: number;
  readonly minSamples: number;
  /** `value > threshold` with `samples >= minSamples`. */
  readonly tripped: boolean;
}

const SLOTS = 10;

/**
 * Sums over a sliding window made of {@linkcode SLOTS} time slots: adding is O(1), reading is
 * O(slots), memory is fixed whatever the traffic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SlidingSums } from "./guards.ts";
 * let now = 0;
 * const sums = new SlidingSums(2, 1_000, () => now);
 * sums.add([1, 1]);
 * now = 2_000;
 * assert.deepEqual(sums.totals(), [0, 0]);
 * ```
 */
export class SlidingSums {
  readonly #width: number;
  readonly #slotMs: number;
  readonly #now: () => number;
  readonly #slots: { index: number; sums: number[] }[];

  constructor(width: number, windowMs: number, now: () => number) {
    this.#width = width;
    this.#slotMs = Math.max(1, Math.ceil(windowMs / SLOTS));
    this.#now = now;
    this.#slots = Array.from({ length: SLOTS }, () => ({
      index: -Infinity,
      sums: new Array<number>(width).fill(0),
    }));
  }

  /** Adds `values` (one per column) to the current slot. */
  add(values: readonly number[]): void {
    const sums = this.#current();
    for (let i = 0; i < this.#width; i++) sums[i] += values[i] ?? 0;
  }

  /** Adds `by` to one column of the current slot (no allocation: the request path uses it). */
  increment(column: number, by = 1): void {
    this.#current()[column] += by;
  }

  #current(): number[] {
    const index = Math.floor(this.#now() / this.#slotMs);
    const slot = this.#slots[((index % SLOTS) + SLOTS) % SLOTS];
    if (slot.index !== index) {
      slot.index = index;
      slot.sums.fill(0);
    }
    return slot.sums;
  }

  /** Column sums over the slots still inside the window. */
  totals(): number[] {
    const current = Math.floor(this.#now() / this.#slotMs);
    const out = new Array<number>(this.#width).fill(0);
    for (const slot of this.#slots) {
      if (current - slot.index >= SLOTS) continue;
      for (let i = 0; i < this.#width; i++) out[i] += slot.sums[i];
    }
    return out;
  }

  /** Forgets everything (after a re-arm, old samples must not trip the guards again). */
  clear(): void {
    for (const slot of this.#slots) {
      slot.index = -Infinity;
      slot.sums.fill(0);
    }
  }
}

/** Upper bounds, in seconds, of the latency histogram the p99 is read from. */
export const LATENCY_BOUNDS = [
  0.0005,
  0.001,
  0.002,
  0.005,
  0.01,
  0.02,
  0.03,
  0.05,
  0.075,
  0.1,
  0.2,
  0.5,
  1,
  Infinity,
];

/**
 * The `q` quantile of a histogram (counts per bucket of `bounds`), as the upper bound of the
 * bucket it falls in: conservative, never below the true value. `NaN` when empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { histogramQuantile } from "./guards.ts";
 * assert.equal(histogramQuantile([0.01, 0.1, Infinity], [98, 1, 1], 0.99), 0.1);
 * ```
 */
export function histogramQuantile(
  bounds: readonly number[],
  counts: readonly number[],
  q: number,
): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return Number.NaN;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < bounds.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) return bounds[i];
  }
  return bounds[bounds.length - 1];
}

/** What the guards are fed with. */
export interface GuardInputs {
  /**
   * A routing attempt: the model's class and its decision time in seconds, or `failed` when it
   * fell back to Large.
   */
  routing(outcome: { seconds: number; decision: "light" | "heavy" } | "failed"): void;
  /** A joined, labelled model decision (not a write, not a fallback). */
  labelled(predicted: "light" | "heavy", actual: "light" | "heavy"): void;
  /** A completed query on Small, and whether it failed for lack of resources. */
  smallCompletion(resourceFailure: boolean): void;
}

/**
 * The four guards over one sliding window.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_GUARD_CONFIG, Guards } from "./guards.ts";
 * const guards = new Guards({ ...DEFAULT_GUARD_CONFIG, fnr: { threshold: 0.01, minSamples: 2 } });
 * guards.labelled("light", "heavy");
 * guards.labelled("heavy", "heavy");
 * const fnr = guards.read().find((r) => r.guard === "fnr")!;
 * assert.equal(fnr.value, 0.5);
 * assert.ok(fnr.tripped);
 * ```
 */
export class Guards implements GuardInputs {
  readonly config: GuardConfig;
  // [routing attempts, failures, heavy decisions]
  readonly #routing: SlidingSums;
  readonly #now: () => number;
  #lastFailureMs: number | undefined;
  readonly #latency: SlidingSums;
  // [heavy, heavy predicted light, light, light predicted heavy]
  readonly #labels: SlidingSums;
  // [completions, resource failures]
  readonly #small: SlidingSums;

  constructor(config: GuardConfig = DEFAULT_GUARD_CONFIG, now: () => number = Date.now) {
    this.config = config;
    this.#now = now;
    this.#routing = new SlidingSums(3, config.windowMs, now);
    this.#latency = new SlidingSums(LATENCY_BOUNDS.length, config.windowMs, now);
    this.#labels = new SlidingSums(4, config.windowMs, now);
    this.#small = new SlidingSums(2, config.windowMs, now);
  }

  routing(outcome: { seconds: number; decision: "light" | "heavy" } | "failed"): void {
    this.#routing.increment(0);
    if (outcome === "failed") {
      this.#routing.increment(1);
      this.#lastFailureMs = this.#now();
      return;
    }
    if (outcome.decision === "heavy") this.#routing.increment(2);
    let bucket = 0;
    while (outcome.seconds > LATENCY_BOUNDS[bucket]) bucket++;
    this.#latency.increment(bucket);
  }

  labelled(predicted: "light" | "heavy", actual: "light" | "heavy"): void {
    if (actual === "heavy") this.#labels.add([1, predicted === "light" ? 1 : 0, 0, 0]);
    else this.#labels.add([0, 0, 1, predicted === "heavy" ? 1 : 0]);
  }

  smallCompletion(resourceFailure: boolean): void {
    this.#small.add([1, resourceFailure ? 1 : 0]);
  }

  /** Live FPR over the window (light predicted heavy / light), for the report. */
  falsePositiveRate(): { value: number; samples: number } {
    const [, , light, lightAsHeavy] = this.#labels.totals();
    return { value: light === 0 ? Number.NaN : lightAsHeavy / light, samples: light };
  }

  /** Share of heavy decisions in the window (failures excluded). */
  heavyShare(): { value: number; samples: number } {
    const [attempts, failures, heavy] = this.#routing.totals();
    const decided = attempts - failures;
    return { value: decided === 0 ? Number.NaN : heavy / decided, samples: decided };
  }

  /** When routing last failed (epoch ms), this process's life long; not cleared by a re-arm. */
  get lastFailureMs(): number | undefined {
    return this.#lastFailureMs;
  }

  /** Every guard's reading now. */
  read(): GuardReading[] {
    const [attempts, failures] = this.#routing.totals();
    const [heavy, heavyAsLight] = this.#labels.totals();
    const [completions, resourceFailures] = this.#small.totals();
    const latency = this.#latency.totals();
    const c = this.config;
    return [
      reading("fnr", heavyAsLight, heavy, c.fnr),
      reading("small-resource-failure", resourceFailures, completions, c.smallResourceFailure),
      reading("error-rate", failures, attempts, c.errorRate),
      {
        ...reading("latency-p99", 0, 0, c.latencyP99),
        value: histogramQuantile(LATENCY_BOUNDS, latency, 0.99),
        samples: attempts - failures,
        tripped: attempts - failures >= c.latencyP99.minSamples &&
          histogramQuantile(LATENCY_BOUNDS, latency, 0.99) > c.latencyP99.threshold,
      },
    ];
  }

  /** Forgets the window. */
  clear(): void {
    this.#routing.clear();
    this.#latency.clear();
    this.#labels.clear();
    this.#small.clear();
  }
}

function reading(
  guard: GuardName,
  numerator: number,
  samples: number,
  limit: GuardLimit,
): GuardReading {
  const value = samples === 0 ? Number.NaN : numerator / samples;
  return {
    guard,
    value,
    samples,
    threshold: limit.threshold,
    minSamples: limit.minSamples,
    tripped: samples >= limit.minSamples && value > limit.threshold,
  };
}

/**
 * Why a re-arm must wait, or `undefined` when it may proceed: within the hold time after the
 * trip, or a guard still reads above `threshold × rearmRatio` on enough samples (hysteresis: the
 * level that clears a guard is lower than the level that trips it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_GUARD_CONFIG, rearmBlocker } from "./guards.ts";
 * const fnr = { guard: "fnr", value: 0.008, samples: 50, threshold: 0.01, minSamples: 20, tripped: false } as const;
 * // 0.8 % is under the 1 % trip level but above the 0.5 % re-arm level.
 * assert.match(rearmBlocker([fnr], DEFAULT_GUARD_CONFIG, 0, 11 * 60_000)!, /fnr/);
 * ```
 */
export function rearmBlocker(
  readings: readonly GuardReading[],
  config: Pick<GuardConfig, "rearmRatio" | "holdMs">,
  trippedAtMs: number,
  nowMs: number,
): string | undefined {
  const waitMs = trippedAtMs + config.holdMs - nowMs;
  if (waitMs > 0) {
    return `hold time: re-arming is possible in ${Math.ceil(waitMs / 1000)} s`;
  }
  for (const r of readings) {
    const clearLevel = r.threshold * config.rearmRatio;
    if (r.samples >= r.minSamples && r.value > clearLevel) {
      return `guard ${r.guard} reads ${r.value} (> ${clearLevel}, the re-arm level)`;
    }
  }
  return undefined;
}
