/**
 * Assembles the service from its configuration: model source → model set → router → app.
 * The Deno entry point (`src/main.ts`) and the tests both start the service through here.
 *
 * @module
 */

import type { Hono } from "hono";
import type { Config } from "./config.ts";
import { createLogger, type Logger } from "./log.ts";
import { directoryModelSource, httpModelSource } from "./model/model_source.ts";
import { loadModelSet } from "./model/model_set.ts";
import { createRouter, type Router } from "./routing/router.ts";
import { createApp } from "./server/app.ts";
import { extAuthzApi } from "./server/ext_authz_api.ts";
import { trinoGatewayApi } from "./server/trino_gateway_api.ts";
import { createRouterMetrics, type RouterMetrics } from "./server/metrics.ts";

/** A running service's parts, for the entry point and for tests. */
export interface Service {
  readonly app: Hono;
  readonly router: Router;
  readonly metrics: RouterMetrics;
  close(): Promise<void>;
}

/**
 * Builds the service. Fails fast (before listening) when a model bundle is invalid.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONFIG } from "./config.ts";
 * import { createService } from "./service.ts";
 * const service = await createService(DEFAULT_CONFIG, { logger: { info() {}, warn() {}, error() {} } });
 * const response = await service.app.request("/readyz");
 * console.assert(response.status === 200);
 * await service.close();
 * ```
 */
export async function createService(
  config: Config,
  options: { logger?: Logger } = {},
): Promise<Service> {
  const logger = options.logger ?? createLogger();
  const source = config.modelRegistryUrl
    ? httpModelSource(config.modelRegistryUrl)
    : directoryModelSource(config.modelsDir);
  const models = await loadModelSet(source, config.defaultModelVersion);
  logger.info("models loaded", {
    component: "models",
    modelVersion: models.defaultVersion,
    detail: `${models.versions.join(",")} from ${source.origin}`,
  });
  const router = createRouter({
    models,
    clusters: { small: config.smallCluster, large: config.largeCluster },
    cacheSize: config.decisionCacheSize,
  });
  const metrics = createRouterMetrics();
  const app = createApp({ config, router, metrics, logger, recordDecision: () => {} }, [
    extAuthzApi,
    trinoGatewayApi,
  ]);
  return {
    app,
    router,
    metrics,
    close: () => models.close(),
  };
}
