/**
 * Prometheus metrics of the router, on a registry owned by the app (no global state), named
 * by Prometheus conventions: `trino_router_` prefix, `_total` counters, `_seconds` histograms.
 *
 * @module
 */

import client from "prom-client";

const HTTP_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
]);
import {
  isModelDecision,
  isPolicyDecision,
  type RouteDecision,
  type RouteTimings,
} from "../routing/router.ts";

/** Sub-millisecond resolution where the router lives, up to the 500 ms Envoy timeout. */
const LATENCY_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
];
const SCORE_BUCKETS = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1];

/** The router's metrics and the registry that exposes them. */
export interface RouterMetrics {
  readonly registry: client.Registry;
  /** Counts one HTTP request by route pattern, method and status. */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** Counts one decision an adapter answered with, and how long the router took for it. */
  observeDecision(decision: RouteDecision, totalSeconds: number): void;
  /** The router's stage timings of one decision (give it to `RouterOptions.onTimings`). */
  observeStages(timings: RouteTimings, decision: RouteDecision): void;
  /** Counts a decision that fell back to Large because routing failed. */
  observeFallback(cause: string): void;
}

/**
 * Creates the metrics on a fresh registry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRouterMetrics } from "./metrics.ts";
 * const metrics = createRouterMetrics();
 * metrics.observeFallback("inference-error");
 * const text = await metrics.registry.metrics();
 * assert(text.includes('trino_router_fallbacks_total{cause="inference-error"} 1'));
 * ```
 */
export function createRouterMetrics(): RouterMetrics {
  const registry = new client.Registry();
  const registers = [registry];
  client.collectDefaultMetrics({ register: registry, prefix: "trino_router_" });
  // prom-client's `process_resident_memory_bytes` reads /proc/self/status, which Deno only opens
  // with --allow-all; under `deno task serve`'s narrow permissions it stays 0. This one does not.
  new client.Gauge({
    name: "trino_router_memory_rss_bytes",
    help: "Resident set size of the router process.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().rss);
    },
  });
  const requests = new client.Counter({
    name: "trino_router_http_requests_total",
    help: "HTTP requests by route pattern, method and status code.",
    labelNames: ["route", "method", "status"],
    registers,
  });
  const requestSeconds = new client.Histogram({
    name: "trino_router_http_request_duration_seconds",
    help: "HTTP request handling time by route pattern.",
    labelNames: ["route"],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const decisions = new client.Counter({
    name: "trino_router_decisions_total",
    help: "Routing decisions by class, reason and model version.",
    labelNames: ["decision", "reason", "model_version"],
    registers,
  });
  const fallbacks = new client.Counter({
    name: "trino_router_fallbacks_total",
    help: "Queries sent to Large because routing failed, by cause.",
    labelNames: ["cause"],
    registers,
  });
  const parseFallbacks = new client.Counter({
    name: "trino_router_parse_fallbacks_total",
    help: "Queries scored on token features only, by why the CST parser did not help.",
    labelNames: ["outcome"],
    registers,
  });
  const cacheHits = new client.Counter({
    name: "trino_router_decision_cache_hits_total",
    help: "Decisions answered from the identical-query cache.",
    registers,
  });
  const stageSeconds = (name: string, help: string) =>
    new client.Histogram({ name, help, buckets: LATENCY_BUCKETS, registers });
  const featurizeSeconds = stageSeconds(
    "trino_router_featurize_duration_seconds",
    "Time to featurize one query (cache misses only).",
  );
  const inferSeconds = stageSeconds(
    "trino_router_inference_duration_seconds",
    "Time to score one feature vector (cache misses only).",
  );
  const totalSeconds = stageSeconds(
    "trino_router_decision_duration_seconds",
    "Time to decide for one query, cache hits included.",
  );
  const scores = new client.Histogram({
    name: "trino_router_model_score",
    help: "Heavy-probability scores of model decisions.",
    labelNames: ["model_version"],
    buckets: SCORE_BUCKETS,
    registers,
  });

  return {
    registry,
    observeRequest(route, method, status, seconds) {
      // Clients choose the method: any other token is one series, not one per token.
      const known = HTTP_METHODS.has(method) ? method : "OTHER";
      requests.inc({ route, method: known, status: String(status) });
      requestSeconds.observe({ route }, seconds);
    },
    observeDecision(decision, total) {
      decisions.inc({
        decision: decision.decision,
        reason: decision.reason,
        model_version: decision.modelVersion,
      });
      if (decision.parseOutcome !== "parsed" && !isPolicyDecision(decision.reason)) {
        parseFallbacks.inc({ outcome: decision.parseOutcome });
      }
      totalSeconds.observe(total);
      if (isModelDecision(decision.reason)) {
        scores.observe({ model_version: decision.modelVersion }, decision.modelScore);
      }
    },
    observeStages(timings, decision) {
      if (timings.cached) cacheHits.inc();
      else {
        featurizeSeconds.observe(timings.featurizeMs / 1000);
        if (!isPolicyDecision(decision.reason)) inferSeconds.observe(timings.inferMs / 1000);
      }
    },
    observeFallback(cause) {
      fallbacks.inc({ cause });
    },
  };
}
