/**
 * Prometheus metrics of the store: whether it is degraded, and how many calls it answered
 * without its backend.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { Store } from "./store.ts";

/**
 * Registers on `registry`:
 * - `trino_router_store_degraded{backend}`: 1 while the store answers "unknown" instead of asking its
 *   backend (Redis down, slow, or circuit open), else 0;
 * - `trino_router_store_fallbacks_total{backend,operation}`: calls answered without the backend.
 *
 * Values are read from `store.health()` at scrape time, so nothing on the request path touches
 * Prometheus objects. Call once per registry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "prom-client";
 * import { MemoryStore } from "./memory_store.ts";
 * import { registerStoreMetrics } from "./store_metrics.ts";
 * const registry = new Registry();
 * registerStoreMetrics(registry, new MemoryStore());
 * assert((await registry.metrics()).includes("trino_router_store_degraded"));
 * ```
 */
export function registerStoreMetrics(registry: Registry, store: Store): void {
  new Gauge({
    name: "trino_router_store_degraded",
    help: "1 while the router's store is degraded (routing continues from the model alone).",
    labelNames: ["backend"] as const,
    registers: [registry],
    collect() {
      const health = store.health();
      this.set({ backend: health.backend }, health.state === "degraded" ? 1 : 0);
    },
  });
  new Counter({
    name: "trino_router_store_fallbacks_total",
    help: "Store calls answered without the backend (reads as unknown, writes dropped).",
    labelNames: ["backend", "operation"] as const,
    registers: [registry],
    collect() {
      const health = store.health();
      // The store keeps the running totals; mirror them (a counter cannot be set directly).
      this.reset();
      for (const [operation, count] of Object.entries(health.fallbacks ?? {})) {
        this.inc({ backend: health.backend, operation }, count);
      }
    },
  });
}
