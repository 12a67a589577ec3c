/**
 * The Hono app: cross-cutting middleware (request metrics, error shield) and the integrations
 * mounted side by side. Each integration is a sub-app in its own file with its own body limit
 * (a Trino event may be far larger than a routing request); a sub-app with a path prefix
 * (`/ext_authz`, `/trino-gateway`, `/v1/events`, `/v1/admin/rollout`) declares its routes
 * relative to it and mounts itself there (`new Hono().route(prefix, app)`), so no handler
 * repeats or slices its prefix.
 *
 * @module
 */

import { Hono } from "hono";
import type { AppDeps } from "./deps.ts";
import { healthApi } from "./health_api.ts";
import { routeApi } from "./route_api.ts";

/** Extra sub-apps (event ingestion, Envoy, Trino Gateway) mounted next to the route API. */
export type Integration = (deps: AppDeps) => Hono;

/**
 * Builds the app. Nothing here is global: two apps in one process share no state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createApp } from "./app.ts";
 * import { createRouter } from "../routing/router.ts";
 * import { modelSetFromBundles } from "../model/model_set.ts";
 * import { createRouterMetrics } from "./metrics.ts";
 * import { createLogger } from "../log.ts";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * const router = createRouter({ models: await modelSetFromBundles([]), clusters: { small: "s", large: "l" } });
 * const app = createApp({
 *   config: DEFAULT_CONFIG, router, metrics: createRouterMetrics(),
 *   logger: createLogger(() => {}), recordDecision: () => {},
 *   storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
 * });
 * const response = await app.request("/healthz");
 * assert(response.status === 200);
 * ```
 */
export function createApp(deps: AppDeps, integrations: readonly Integration[] = []): Hono {
  const { metrics, logger } = deps;
  const app = new Hono();
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.res.status === 404 ? "unmatched" : c.req.routePath;
    metrics.observeRequest(route, c.req.method, c.res.status, (performance.now() - started) / 1000);
  });
  app.route("/", routeApi(deps));
  app.route("/", healthApi(deps));
  for (const integration of integrations) app.route("/", integration(deps));
  app.get("/metrics", async (c) => {
    c.header("Content-Type", metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError((error, c) => {
    logger.error("unhandled error", { route: c.req.routePath, error: error.name });
    return c.json({ error: "internal error", queryId: null }, 500);
  });
  return app;
}
