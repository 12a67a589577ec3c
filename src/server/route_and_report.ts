/**
 * The one way an HTTP integration asks the router: decide, then count, remember and log the
 * decision (never the SQL), or count and log the failure that sends the query to Large.
 *
 * @module
 */

import type { RouteDecision, RouteInput } from "../routing/router.ts";
import type { AppDeps } from "./deps.ts";

/**
 * Routes one query and reports the decision to metrics, the decision store and the log.
 * Throws what the router throws; the caller maps that to its own fallback.
 *
 * @example
 * ```ts ignore
 * const decision = await routeAndReport(deps, input, "route_api", c.req.header("X-Model-Version"));
 * ```
 */
export async function routeAndReport(
  deps: AppDeps,
  input: RouteInput,
  route: string,
  modelVersion?: string,
): Promise<RouteDecision> {
  const started = performance.now();
  const { decision, timings } = await deps.router.route(input, modelVersion);
  const seconds = (performance.now() - started) / 1000;
  deps.metrics.observeDecision(decision, timings, seconds);
  deps.recordDecision(decision, input);
  deps.logger.info("routed", {
    route,
    queryId: decision.queryId,
    decision: decision.decision,
    reason: decision.reason,
    modelVersion: decision.modelVersion,
    modelScore: decision.modelScore,
    statementKind: decision.statementKind,
    durationMs: seconds * 1000,
  });
  return decision;
}

/**
 * Counts and logs a routing failure that sends the query to Large. Only the error's class name
 * is logged: parser messages can quote the SQL.
 *
 * @example
 * ```ts ignore
 * reportRoutingFailure(deps, "ext_authz", error, input.queryId);
 * ```
 */
export function reportRoutingFailure(
  deps: AppDeps,
  route: string,
  error: unknown,
  queryId?: string,
): void {
  deps.metrics.observeFallback("inference-error");
  deps.logger.error("routing failed, sending to large", {
    route,
    queryId,
    error: errorName(error),
  });
}

/** The error's class name, safe to log. */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
