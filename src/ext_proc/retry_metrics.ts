/**
 * Prometheus metrics of the transparent retry on Large (`trino_router_retries_total{outcome}`).
 *
 * @module
 */

import { Counter, Histogram, type Registry } from "prom-client";

/**
 * `outcome` label values of `trino_router_retries_total`. Only responses carrying a
 * resource-exhaustion error are counted; other responses pass without a trace.
 *
 * - `retried`: Large accepted the query; the client continues there.
 * - `large_failed`: Large refused or did not answer in time; the client gets Small's error.
 * - `skipped_rows_sent`: rows had reached the client; retrying would duplicate them.
 * - `skipped_unknown_query`: no submission known (expired, store degraded, or already retried).
 * - `skipped_not_read`: not a read-only statement; never run twice.
 */
export const RETRY_OUTCOMES = [
  "retried",
  "large_failed",
  "skipped_rows_sent",
  "skipped_unknown_query",
  "skipped_not_read",
] as const;

/** One of {@linkcode RETRY_OUTCOMES}. */
export type RetryOutcome = typeof RETRY_OUTCOMES[number];

/**
 * The retry metrics, registered on one registry.
 *
 * @example
 * ```ts
 * import { Registry } from "prom-client";
 * import { registerRetryMetrics } from "./retry_metrics.ts";
 * const metrics = registerRetryMetrics(new Registry());
 * metrics.retries.inc({ outcome: "retried" });
 * ```
 */
export interface RetryMetrics {
  /** `trino_router_retries_total{outcome}`. */
  readonly retries: Counter<"outcome">;
  /** `trino_router_retry_duration_seconds`: the submission to Large, as the client waits for it. */
  readonly retryDuration: Histogram<string>;
}

/**
 * Registers the retry metrics on `registry` (every outcome starts at 0, so dashboards see the
 * series before the first retry).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "prom-client";
 * import { registerRetryMetrics } from "./retry_metrics.ts";
 * const registry = new Registry();
 * registerRetryMetrics(registry);
 * const text = await registry.metrics();
 * assert(text.includes('trino_router_retries_total{outcome="retried"} 0'));
 * ```
 */
export function registerRetryMetrics(registry: Registry): RetryMetrics {
  const retries = new Counter({
    name: "trino_router_retries_total",
    help: "Queries that failed on Small with a resource-exhaustion error, by retry outcome.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  for (const outcome of RETRY_OUTCOMES) retries.inc({ outcome }, 0);
  const retryDuration = new Histogram({
    name: "trino_router_retry_duration_seconds",
    help: "Time to submit a failed query to Large (the client's failed request waits for it).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { retries, retryDuration };
}
