/**
 * The one way an HTTP integration asks the router: decide, then count, remember and log the
 * decision (never the SQL), or count and log the failure that sends the query to Large.
 *
 * @module
 */

import { clusterOf, type DecisionReason, type RouteInput } from "../routing/router.ts";
import type { AppliedDecision } from "../rollout/mode.ts";
import { FULL_ROLLOUT } from "../rollout/rollout_policy.ts";
import type { AppDeps } from "./deps.ts";

/**
 * Why an adapter answered as it did: the router's reason, or one of the adapters' own when the
 * router did not decide (`fallback`: it failed or was not asked, the server being busy;
 * `partial-body`: the SQL arrived cut, so it is heavy by any measure). Both mean Large.
 */
export type AnswerReason = DecisionReason | "fallback" | "partial-body";

/**
 * Routes one query, applies the rollout mode (the answer's `applied` / `targetCluster` say where
 * it runs) and reports the decision to metrics, the decision store and the log. `trinoHeaders`
 * are the client's headers when the adapter has them (shadow-route needs them to rule out
 * transactions). Throws what the router throws; the caller maps that to its own fallback.
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
 * import { routeAndReport } from "./route_and_report.ts";
 * const deps: AppDeps = {
 *   config: DEFAULT_CONFIG, metrics: createRouterMetrics(), logger: createLogger(() => {}),
 *   router: createRouter({ models: await modelSetFromBundles([]), clusters: { small: "s", large: "l" } }),
 *   recordDecision: () => {}, storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
 * };
 * const decision = await routeAndReport(deps, { sqlText: "DELETE FROM t" }, "route_api");
 * assert.equal(decision.targetCluster, "l"); // writes run on Large
 * const text = await deps.metrics.registry.metrics();
 * assert.match(text, /trino_router_decisions_total\{decision="heavy",reason="write-statement",[^}]*\} 1/);
 * ```
 */
export async function routeAndReport(
  deps: AppDeps,
  input: RouteInput,
  route: string,
  modelVersion?: string,
  trinoHeaders?: Headers,
): Promise<AppliedDecision> {
  const rollout = deps.rollout ?? FULL_ROLLOUT;
  const started = performance.now();
  const core = await deps.router.route(input, modelVersion);
  const seconds = (performance.now() - started) / 1000;
  deps.metrics.observeDecision(core, seconds);
  rollout.observeRouting({ seconds, decision: core.decision });
  const decision = rollout.apply(core, input);
  deps.recordDecision(decision, input);
  // After the answer is on its way: the challenger's scoring and the feature sample would
  // otherwise run (synchronously, in part) before this request's response is written. What
  // they add is written over the record just made.
  const followUp = rollout.followUp(decision, input, trinoHeaders);
  if (followUp) {
    setTimeout(() => {
      followUp().then((extras) => {
        if (extras.challenger || extras.features) deps.recordDecision(decision, input, extras);
      });
    }, 0);
  }
  deps.logger.info("routed", {
    route,
    queryId: decision.queryId,
    decision: decision.decision,
    mode: decision.rolloutMode,
    cluster: clusterOf(decision.applied),
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
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { createLogger } from "../log.ts";
 * import { modelSetFromBundles } from "../model/model_set.ts";
 * import { createRouter } from "../routing/router.ts";
 * import type { AppDeps } from "./deps.ts";
 * import { createRouterMetrics } from "./metrics.ts";
 * import { reportRoutingFailure } from "./route_and_report.ts";
 * const deps: AppDeps = {
 *   config: DEFAULT_CONFIG, metrics: createRouterMetrics(), logger: createLogger(() => {}),
 *   router: createRouter({ models: await modelSetFromBundles([]), clusters: { small: "s", large: "l" } }),
 *   recordDecision: () => {}, storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
 * };
 * reportRoutingFailure(deps, "ext_authz", new Error("model crashed"), "q1");
 * const text = await deps.metrics.registry.metrics();
 * assert.match(text, /trino_router_fallbacks_total\{cause="inference-error"\} 1/);
 * ```
 */
export function reportRoutingFailure(
  deps: AppDeps,
  route: string,
  error: unknown,
  queryId?: string,
): void {
  deps.metrics.observeFallback("inference-error");
  (deps.rollout ?? FULL_ROLLOUT).observeRouting("failed");
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
