/**
 * Rollout configuration from environment variables: the starting mode, canary share and
 * challenger, the guards' window and limits, shadow-route bounds and the feature sample rate.
 *
 * @module
 */

import { DEFAULT_GUARD_CONFIG, type GuardConfig, type GuardLimit } from "./guards.ts";
import { isRolloutMode, ROLLOUT_MODES, type RolloutMode } from "./mode.ts";
import { DEFAULT_SHADOW_ROUTE } from "./shadow_route.ts";

/** Everything the rollout reads from the environment. */
export interface RolloutConfig {
  /** `ROLLOUT_MODE`: the mode at start when the store holds none yet. */
  readonly mode: RolloutMode;
  /** `ROLLOUT_CANARY_PERCENT`: users (0–100) whose light queries go to Small in `canary`. */
  readonly canaryPercent: number;
  /** `ROLLOUT_CHALLENGER`: a loaded model version scored beside the champion. */
  readonly challenger?: string;
  /** `ROLLOUT_POLL_MS`: how often each replica reads the shared state and checks the guards. */
  readonly pollMs: number;
  readonly guards: GuardConfig;
  readonly shadowRoute: {
    /** `SHADOW_ROUTE_SMALL_URL`; default `http://` + `SMALL_CLUSTER`. */
    readonly smallUrl?: string;
    readonly sample: number;
    readonly maxPerSecond: number;
    readonly maxConcurrency: number;
    readonly timeoutMs: number;
  };
  /** `FEATURE_SAMPLE_RATE`: share of decisions whose feature vector is recorded. */
  readonly featureSampleRate: number;
}

/**
 * Defaults: `full` (the router's answer is applied, as a bare `deno task serve` expects; a
 * production deployment starts with `ROLLOUT_MODE=shadow`, see the README runbook), canary 2 %
 * (the design's first step), 1 % of feature vectors.
 */
export const DEFAULT_ROLLOUT_CONFIG: RolloutConfig = {
  mode: "full",
  canaryPercent: 2,
  pollMs: 1_000,
  guards: DEFAULT_GUARD_CONFIG,
  shadowRoute: { ...DEFAULT_SHADOW_ROUTE },
  featureSampleRate: 0.01,
};

/** Every environment variable the rollout reads (part of the service's `ENV_NAMES`). */
export const ROLLOUT_ENV_NAMES = [
  "ROLLOUT_MODE",
  "ROLLOUT_CANARY_PERCENT",
  "ROLLOUT_CHALLENGER",
  "ROLLOUT_POLL_MS",
  "ROLLOUT_GUARD_WINDOW_MS",
  "ROLLOUT_GUARD_FNR_MAX",
  "ROLLOUT_GUARD_FNR_MIN_SAMPLES",
  "ROLLOUT_GUARD_SMALL_FAILURE_MAX",
  "ROLLOUT_GUARD_SMALL_FAILURE_MIN_SAMPLES",
  "ROLLOUT_GUARD_ERROR_RATE_MAX",
  "ROLLOUT_GUARD_ERROR_RATE_MIN_SAMPLES",
  "ROLLOUT_GUARD_LATENCY_P99_MAX",
  "ROLLOUT_GUARD_LATENCY_P99_MIN_SAMPLES",
  "ROLLOUT_REARM_RATIO",
  "ROLLOUT_HOLD_MS",
  "SHADOW_ROUTE_SMALL_URL",
  "SHADOW_ROUTE_SAMPLE",
  "SHADOW_ROUTE_MAX_PER_SECOND",
  "SHADOW_ROUTE_MAX_CONCURRENCY",
  "SHADOW_ROUTE_TIMEOUT_MS",
  "FEATURE_SAMPLE_RATE",
] as const;

/** A rollout variable that cannot be used, naming it. */
export class RolloutConfigError extends Error {
  override name = "RolloutConfigError";
}

type Env = Readonly<Partial<Record<typeof ROLLOUT_ENV_NAMES[number], string>>>;

function number(
  env: Env,
  name: keyof Env,
  fallback: number,
  check: (value: number) => boolean,
  expected: string,
): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || !check(value)) {
    throw new RolloutConfigError(`${name} must be ${expected}, got "${raw}"`);
  }
  return value;
}

const fraction = (env: Env, name: keyof Env, fallback: number) =>
  number(env, name, fallback, (v) => v >= 0 && v <= 1, "a number from 0 to 1");
const positive = (env: Env, name: keyof Env, fallback: number) =>
  number(env, name, fallback, (v) => Number.isInteger(v) && v > 0, "a positive integer");

function limit(
  env: Env,
  prefix:
    | "ROLLOUT_GUARD_FNR"
    | "ROLLOUT_GUARD_SMALL_FAILURE"
    | "ROLLOUT_GUARD_ERROR_RATE"
    | "ROLLOUT_GUARD_LATENCY_P99",
  fallback: GuardLimit,
  scale = 1,
): GuardLimit {
  return {
    threshold: number(
      env,
      `${prefix}_MAX`,
      fallback.threshold * scale,
      (v) => v >= 0,
      "a non-negative number",
    ) / scale,
    minSamples: positive(env, `${prefix}_MIN_SAMPLES`, fallback.minSamples),
  };
}

/**
 * Reads the rollout configuration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rolloutConfigFromEnv } from "./rollout_config.ts";
 * const config = rolloutConfigFromEnv({ ROLLOUT_MODE: "canary", ROLLOUT_CANARY_PERCENT: "10" });
 * assert.equal(config.mode, "canary");
 * assert.equal(config.canaryPercent, 10);
 * assert.throws(() => rolloutConfigFromEnv({ ROLLOUT_MODE: "yolo" }), /ROLLOUT_MODE/);
 * ```
 */
export function rolloutConfigFromEnv(env: Env): RolloutConfig {
  const d = DEFAULT_ROLLOUT_CONFIG;
  const mode = env.ROLLOUT_MODE || d.mode;
  if (!isRolloutMode(mode)) {
    throw new RolloutConfigError(
      `ROLLOUT_MODE must be one of ${ROLLOUT_MODES.join(", ")}, got "${mode}"`,
    );
  }
  const g = d.guards;
  return {
    mode,
    canaryPercent: number(
      env,
      "ROLLOUT_CANARY_PERCENT",
      d.canaryPercent,
      (v) => v >= 0 && v <= 100,
      "a number from 0 to 100",
    ),
    challenger: env.ROLLOUT_CHALLENGER || undefined,
    pollMs: positive(env, "ROLLOUT_POLL_MS", d.pollMs),
    guards: {
      windowMs: positive(env, "ROLLOUT_GUARD_WINDOW_MS", g.windowMs),
      fnr: limit(env, "ROLLOUT_GUARD_FNR", g.fnr),
      smallResourceFailure: limit(env, "ROLLOUT_GUARD_SMALL_FAILURE", g.smallResourceFailure),
      errorRate: limit(env, "ROLLOUT_GUARD_ERROR_RATE", g.errorRate),
      // `ROLLOUT_GUARD_LATENCY_P99_MAX` is in milliseconds, like every other duration there.
      latencyP99: limit(env, "ROLLOUT_GUARD_LATENCY_P99", g.latencyP99, 1000),
      rearmRatio: fraction(env, "ROLLOUT_REARM_RATIO", g.rearmRatio),
      holdMs: number(
        env,
        "ROLLOUT_HOLD_MS",
        g.holdMs,
        (v) => Number.isInteger(v) && v >= 0,
        "a non-negative integer",
      ),
    },
    shadowRoute: {
      smallUrl: env.SHADOW_ROUTE_SMALL_URL || undefined,
      sample: fraction(env, "SHADOW_ROUTE_SAMPLE", d.shadowRoute.sample),
      maxPerSecond: positive(env, "SHADOW_ROUTE_MAX_PER_SECOND", d.shadowRoute.maxPerSecond),
      maxConcurrency: positive(env, "SHADOW_ROUTE_MAX_CONCURRENCY", d.shadowRoute.maxConcurrency),
      timeoutMs: positive(env, "SHADOW_ROUTE_TIMEOUT_MS", d.shadowRoute.timeoutMs),
    },
    featureSampleRate: fraction(env, "FEATURE_SAMPLE_RATE", d.featureSampleRate),
  };
}

/**
 * Where shadow-route copies go: `SHADOW_ROUTE_SMALL_URL`, else `http://` + the Small cluster's
 * address. The one place that says so (the service and its permissions both ask here).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_ROLLOUT_CONFIG, shadowRouteSmallUrl } from "./rollout_config.ts";
 * assert.equal(shadowRouteSmallUrl(DEFAULT_ROLLOUT_CONFIG, "small:8080"), "http://small:8080");
 * ```
 */
export function shadowRouteSmallUrl(rollout: RolloutConfig, smallCluster: string): string {
  return rollout.shadowRoute.smallUrl ?? `http://${smallCluster}`;
}
