/**
 * Liveness, readiness and the list of loaded models.
 *
 * @module
 */

import { Hono } from "hono";
import { PROBE_QUERY } from "../model/model_check.ts";
import type { AppDeps } from "./deps.ts";

/**
 * `GET /healthz` (the process answers), `GET /readyz` (the default model scores a probe query)
 * and `GET /v1/models` (versions with their manifest summary).
 *
 * `/readyz` names the configured store's state: `"status": "degraded"` while Redis is unreachable
 * (or untrusted: a `rediss://` whose CA does not verify). It stays 200 then, on purpose: a
 * degraded store only loses the template cache and the feedback join, routing stays safe, and a
 * shared Redis outage must not take every replica out of the Service at once. The
 * `trino_router_store_degraded` gauge and its alert carry the page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { createLogger } from "../log.ts";
 * import { modelSetFromBundles } from "../model/model_set.ts";
 * import { createRouter } from "../routing/router.ts";
 * import type { AppDeps } from "./deps.ts";
 * import { createRouterMetrics } from "./metrics.ts";
 * import { healthApi } from "./health_api.ts";
 * const deps: AppDeps = {
 *   config: DEFAULT_CONFIG, metrics: createRouterMetrics(), logger: createLogger(() => {}),
 *   router: createRouter({ models: await modelSetFromBundles([]), clusters: { small: "s", large: "l" } }),
 *   recordDecision: () => {}, storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
 * };
 * const ready = await healthApi(deps).request("/readyz");
 * assert.equal((await ready.json()).status, "ready");
 * ```
 */
export function healthApi(deps: AppDeps): Hono {
  const { router, storeHealth } = deps;
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    try {
      const decision = await router.route(PROBE_QUERY);
      const { backend, state, circuit, lastError } = storeHealth();
      return c.json({
        status: state === "ok" ? "ready" : "degraded",
        defaultVersion: decision.modelVersion,
        store: { backend, state, circuit, ...(lastError ? { lastError } : {}) },
      });
    } catch (error) {
      return c.json({ status: "not-ready", error: (error as Error).name }, 503);
    }
  });
  app.get("/v1/models", (c) => {
    const { models } = router;
    return c.json({
      defaultVersion: models.defaultVersion,
      models: models.versions.map((version) => {
        const m = models.get(version).manifest;
        return {
          version: m.version,
          kind: m.kind,
          default: version === models.defaultVersion,
          featureSchemaVersion: m.featureSchemaVersion,
          featureCount: m.features.length,
          threshold: m.threshold,
          createdAt: m.createdAt ?? null,
          description: m.description ?? null,
          metrics: m.metrics ?? null,
          trainingData: m.trainingData ?? null,
        };
      }),
    });
  });
  return app;
}
