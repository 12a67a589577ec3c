/**
 * Prometheus metrics of the model lifecycle: which version serves, and how refreshes went.
 * Alerts use these names; they are read from the reloader at scrape time.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { FeatureDriftMonitor } from "../model/feature_drift.ts";
import { type ModelReloader, REFRESH_OUTCOMES } from "../model/model_reloader.ts";

/**
 * Registers on `registry`:
 * - `trino_router_model_serving{model_version}`: 1 for the default version serving now;
 * - `trino_router_model_refresh_total{outcome}`: refreshes (poll or `POST /v1/models/refresh`)
 *   by outcome: `swapped`, `unchanged`, `refused`, `source_error`;
 * - `trino_router_feature_psi{model_version,feature}` (with `drift`): population stability
 *   index of the latest live queries against the version's training split.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "prom-client";
 * import { createModelReloader } from "../model/model_reloader.ts";
 * import { registerModelMetrics } from "./model_metrics.ts";
 * const reloader = await createModelReloader({
 *   source: { origin: "empty", load: () => Promise.resolve({ bundles: [] }) },
 * });
 * const registry = new Registry();
 * registerModelMetrics(registry, reloader);
 * const text = await registry.metrics();
 * assert.match(text, /trino_router_model_serving\{model_version="heuristic-v1"\} 1/);
 * await reloader.close();
 * ```
 */
export function registerModelMetrics(
  registry: Registry,
  reloader: ModelReloader,
  drift?: FeatureDriftMonitor,
): void {
  new Gauge({
    name: "trino_router_model_serving",
    help: "1 for the model version serving as the default now.",
    labelNames: ["model_version"] as const,
    registers: [registry],
    collect() {
      // Reset first: the version that served before a swap must disappear, not linger at 1.
      this.reset();
      this.set({ model_version: reloader.models.defaultVersion }, 1);
    },
  });
  new Counter({
    name: "trino_router_model_refresh_total",
    help: "Model refreshes (poll or API) by outcome: swapped, unchanged, refused, source_error.",
    labelNames: ["outcome"] as const,
    registers: [registry],
    collect() {
      const counts = reloader.refreshCounts();
      this.reset();
      for (const outcome of REFRESH_OUTCOMES) this.inc({ outcome }, counts[outcome]);
    },
  });
  if (!drift) return;
  new Gauge({
    name: "trino_router_feature_psi",
    help: "PSI of a dense feature, latest live queries vs the model version's training split " +
      "(> 0.25: significant shift).",
    labelNames: ["model_version", "feature"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { modelVersion, feature, psi } of drift.snapshot()) {
        this.set({ model_version: modelVersion, feature }, psi);
      }
    },
  });
}
