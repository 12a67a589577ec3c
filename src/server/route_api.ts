/**
 * `POST /v1/route`: the design document's API. Answers 200 with a decision (and, with
 * `?explain=true`, the features that drove the model's score), 400 for a body it
 * cannot read, 413 for a body over the limit, 500 when featurizing or scoring failed (the
 * caller then sends the query to Large).
 *
 * @module
 */

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { inFlightLimit } from "./serve_limits.ts";
import { UnknownModelVersionError } from "../model/model_set.ts";
import type { AppliedDecision } from "../rollout/mode.ts";
import { parseRouteRequest } from "./route_request.ts";
import type { AppDeps } from "./deps.ts";
import { reportRoutingFailure, routeAndReport } from "./route_and_report.ts";

/** Header that selects a loaded model version (design FR4). */
export const MODEL_VERSION_HEADER = "X-Model-Version";

/**
 * The response body: the design's fields plus diagnostics. `decision` is the model's answer;
 * `targetCluster` is where the query runs under `rolloutMode` (Large in `shadow`, for instance).
 */
function decisionBody(decision: AppliedDecision): Record<string, unknown> {
  return {
    queryId: decision.queryId ?? null,
    decision: decision.decision,
    targetCluster: decision.targetCluster,
    modelVersion: decision.modelVersion,
    modelScore: decision.modelScore,
    reason: decision.reason,
    statementKind: decision.statementKind,
    rolloutMode: decision.rolloutMode,
    // Only for a model that read history from a store with epochs: the counts' epoch.
    ...(decision.historyEpoch === undefined ? {} : { historyEpoch: decision.historyEpoch }),
  };
}

/**
 * The route API as a Hono sub-app.
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
 * import { routeApi } from "./route_api.ts";
 * const deps: AppDeps = {
 *   config: DEFAULT_CONFIG, metrics: createRouterMetrics(), logger: createLogger(() => {}),
 *   router: createRouter({ models: await modelSetFromBundles([]), clusters: { small: "s", large: "l" } }),
 *   recordDecision: () => {}, storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
 * };
 * const app = routeApi(deps);
 * const body = JSON.stringify({ queryId: "q1", sqlText: "SELECT 1" });
 * const response = await app.request("/v1/route", { method: "POST", body });
 * assert.equal((await response.json()).targetCluster, "s");
 * const bad = await app.request("/v1/route", { method: "POST", body: "{" });
 * assert.equal(bad.status, 400);
 * ```
 */
export function routeApi(deps: AppDeps): Hono {
  const { config, logger } = deps;
  const app = new Hono();
  const limit = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: (c) =>
      c.json({ error: `request body exceeds ${config.maxBodyBytes} bytes`, queryId: null }, 413),
  });
  const busy = inFlightLimit(deps.inFlight, config.maxBodyBytes, (c) => {
    c.header("Retry-After", "1");
    return c.json({ error: "too many request bytes in flight; retry later", queryId: null }, 503);
  });
  app.post("/v1/route", limit, busy, async (c) => {
    const parsed = parseRouteRequest(await c.req.text());
    if (!parsed.ok) {
      logger.warn("rejected route request", {
        queryId: parsed.queryId,
        status: 400,
        error: parsed.error,
      });
      return c.json({ error: parsed.error, queryId: parsed.queryId ?? null }, 400);
    }
    const { input } = parsed;
    try {
      const modelVersion = c.req.header(MODEL_VERSION_HEADER);
      const decision = await routeAndReport(deps, input, "route_api", modelVersion);
      const explain = c.req.query("explain");
      if (explain === "true" || explain === "1") {
        // Explained with the version that decided (the challenger, under a canary).
        const explanation = await deps.router.explain(input, decision.modelVersion);
        return c.json({ ...decisionBody(decision), explanation });
      }
      return c.json(decisionBody(decision));
    } catch (error) {
      if (error instanceof UnknownModelVersionError) {
        return c.json(
          {
            error: error.message,
            queryId: input.queryId ?? null,
            availableVersions: error.available,
          },
          400,
        );
      }
      reportRoutingFailure(deps, "route_api", error, input.queryId);
      return c.json({ error: "Inference engine failed", queryId: input.queryId ?? null }, 500);
    }
  });
  return app;
}
