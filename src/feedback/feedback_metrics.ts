/**
 * Prometheus metrics of the feedback loop: live confusion counts, FNR/FPR per model version,
 * events by cluster and join result, template-cache marks and labeled-log writes.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import { type ConfusionSnapshot, falseNegativeRate, falsePositiveRate } from "./confusion.ts";
import type { FeedbackLoop } from "./feedback_loop.ts";

// Scrapes closer together than this share one read of the shared counters.
const SHARED_SNAPSHOT_MAX_AGE_MS = 1_000;

/**
 * Registers the feedback loop's metrics on `registry`. Values are read from the loop at scrape
 * time, so handling an event touches no Prometheus object. Call once per registry.
 *
 * - `trino_router_feedback_events_total{cluster,result}`: completion events handled; `result` is `joined`
 *   (decision found), `unjoined` (no decision: expired, evicted, or not routed by us) or
 *   `unlabeled` (a failure unrelated to resources, which has no label);
 * - `trino_router_feedback_confusion_total{model_version,predicted,actual}`: this replica's joined,
 *   labelled decisions (sum over replicas in PromQL);
 * - `trino_router_feedback_false_negative_rate{model_version}` / `..._false_positive_rate`: FN/(FN+TP)
 *   and FP/(FP+TN) over all replicas sharing the store (this replica's when it is degraded);
 *   absent until the denominator is non-zero;
 * - `trino_router_template_cache_marks_total`, `trino_router_feedback_dropped_events_total`,
 *   `trino_router_feedback_failed_events_total`, `trino_router_labeled_log_lines_total{result}`;
 * - `trino_router_feedback_rejected_events_total{reason="unknown_cluster"}`: one series for every
 *   event naming a cluster that is not configured (the `cluster` label of the events counter
 *   only ever holds the configured names and `unknown`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "prom-client";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createFeedbackLoop } from "./feedback_loop.ts";
 * import { registerFeedbackMetrics } from "./feedback_metrics.ts";
 * const registry = new Registry();
 * registerFeedbackMetrics(registry, createFeedbackLoop({ store: new MemoryStore() }));
 * assert((await registry.metrics()).includes("trino_router_feedback_confusion_total"));
 * ```
 */
export function registerFeedbackMetrics(registry: Registry, feedback: FeedbackLoop): void {
  const registers = [registry];
  // Counters mirror totals kept by the loop: prom-client counters cannot be set, so each scrape
  // resets and re-adds them (the exposed value is still monotonic).
  new Counter({
    name: "trino_router_feedback_events_total",
    help: "Trino query-completed events handled, by cluster and join result.",
    labelNames: ["cluster", "result"] as const,
    registers,
    collect() {
      this.reset();
      for (const [key, count] of Object.entries(feedback.stats().events)) {
        const [cluster, result] = key.split("|");
        this.inc({ cluster, result }, count);
      }
    },
  });
  new Counter({
    name: "trino_router_feedback_confusion_total",
    help: "Routing decisions joined with their true label, by model version (this replica).",
    labelNames: ["model_version", "predicted", "actual"] as const,
    registers,
    collect() {
      this.reset();
      for (const [model_version, c] of Object.entries(feedback.confusion())) {
        this.inc({ model_version, predicted: "heavy", actual: "heavy" }, c.truePositive);
        this.inc({ model_version, predicted: "light", actual: "heavy" }, c.falseNegative);
        this.inc({ model_version, predicted: "light", actual: "light" }, c.trueNegative);
        this.inc({ model_version, predicted: "heavy", actual: "light" }, c.falsePositive);
      }
    },
  });
  // Both rate gauges come from one shared-counter read per scrape (prom-client collects the
  // metrics of a scrape concurrently, so the read is shared rather than ordered).
  let cached: { readonly at: number; readonly snapshot: Promise<ConfusionSnapshot> } | undefined;
  const sharedSnapshot = (): Promise<ConfusionSnapshot> => {
    const now = Date.now();
    if (!cached || now - cached.at > SHARED_SNAPSHOT_MAX_AGE_MS) {
      cached = { at: now, snapshot: feedback.sharedConfusion() };
    }
    return cached.snapshot;
  };
  for (
    const [name, help, rate] of [
      [
        "trino_router_feedback_false_negative_rate",
        "Live FN/(FN+TP): heavy queries predicted light, across replicas sharing the store.",
        falseNegativeRate,
      ],
      [
        "trino_router_feedback_false_positive_rate",
        "Live FP/(FP+TN): light queries predicted heavy, across replicas sharing the store.",
        falsePositiveRate,
      ],
    ] as const
  ) {
    new Gauge({
      name,
      help,
      labelNames: ["model_version"] as const,
      registers,
      async collect() {
        const snapshot = await sharedSnapshot();
        this.reset();
        for (const [model_version, counts] of Object.entries(snapshot)) {
          const value = rate(counts);
          if (!Number.isNaN(value)) this.set({ model_version }, value);
        }
      },
    });
  }
  new Counter({
    name: "trino_router_template_cache_marks_total",
    help: "Templates put in the template cache after a resource failure on the Small cluster.",
    registers,
    collect() {
      this.reset();
      this.inc(feedback.stats().templateMarks);
    },
  });
  new Counter({
    name: "trino_router_feedback_dropped_events_total",
    help: "Completion events refused because too many were being handled.",
    registers,
    collect() {
      this.reset();
      this.inc(feedback.stats().dropped);
    },
  });
  new Counter({
    name: "trino_router_feedback_failed_events_total",
    help: "Completion events whose handling failed unexpectedly (see the error log).",
    registers,
    collect() {
      this.reset();
      this.inc(feedback.stats().failed);
    },
  });
  new Counter({
    name: "trino_router_feedback_rejected_events_total",
    help: "Completion events refused because their path named no configured cluster.",
    labelNames: ["reason"] as const,
    registers,
    collect() {
      this.reset();
      this.inc({ reason: "unknown_cluster" }, feedback.stats().rejectedClusters);
    },
  });
  new Counter({
    name: "trino_router_labeled_log_lines_total",
    help:
      "Lines appended to the labeled log (ok), lost to write errors (error), or refused at its size limit (over_limit).",
    labelNames: ["result"] as const,
    registers,
    collect() {
      this.reset();
      const { written, failed, overLimit } = feedback.stats().labeledLog;
      this.inc({ result: "ok" }, written);
      this.inc({ result: "error" }, failed);
      this.inc({ result: "over_limit" }, overLimit);
    },
  });
}
