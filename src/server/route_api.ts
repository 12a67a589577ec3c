/**
 * `POST /v1/route`: the design document's API. Answers 200 with a decision, 400 for a body it
 * cannot read, 413 for a body over the limit, 500 when featurizing or scoring failed (the
 * caller then sends the query to Large).
 *
 * @module
 */

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { UnknownModelVersionError } from "../model/model_set.ts";
import type { RouteDecision } from "../routing/router.ts";
import { parseRouteRequest } from "./route_request.ts";
import type { AppDeps } from "./deps.ts";

/** Header that selects a loaded model version (design FR4). */
export const MODEL_VERSION_HEADER = "X-Model-Version";

/** The response body: the design's fields plus diagnostics. */
export function decisionBody(decision: RouteDecision): Record<string, unknown> {
  return {
    queryId: decision.queryId,
    decision: decision.decision,
    targetCluster: decision.targetCluster,
    modelVersion: decision.modelVersion,
    modelScore: decision.modelScore,
    reason: decision.reason,
    statementKind: decision.statementKind,
  };
}

/**
 * The route API as a Hono sub-app.
 *
 * @example
 * ```ts ignore
 * app.route("/", routeApi(deps));
 * ```
 */
export function routeApi(deps: AppDeps): Hono {
  const { config, router, metrics, logger, recordDecision } = deps;
  const app = new Hono();
  const limit = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: (c) =>
      c.json({ error: `request body exceeds ${config.maxBodyBytes} bytes`, queryId: null }, 413),
  });
  app.post("/v1/route", limit, async (c) => {
    const started = performance.now();
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
      const { decision, timings } = await router.route(input, c.req.header(MODEL_VERSION_HEADER));
      metrics.observeDecision(decision, timings, (performance.now() - started) / 1000);
      recordDecision(decision, input);
      logger.info("routed", {
        queryId: decision.queryId,
        decision: decision.decision,
        reason: decision.reason,
        modelVersion: decision.modelVersion,
        modelScore: decision.modelScore,
        statementKind: decision.statementKind,
        durationMs: performance.now() - started,
      });
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
      metrics.observeFallback("inference-error");
      logger.error("routing failed", { queryId: input.queryId, error: errorName(error) });
      return c.json({ error: "Inference engine failed", queryId: input.queryId ?? null }, 500);
    }
  });
  return app;
}

/** Only the error's class name: messages of parser errors can quote the SQL. */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
