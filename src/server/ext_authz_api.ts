/**
 * `/ext_authz/*`: the router as Envoy's HTTP ext_authz service. Envoy sends each new query's
 * `POST /v1/statement` here (method and path after the `/ext_authz` prefix, the `X-Trino-*`
 * headers, the SQL as the raw body); the answer is always `200` with `x-trino-routing-group`,
 * on which Envoy re-selects the route to Small or Large (see `deploy/envoy/envoy.yaml`).
 *
 * @module
 */

import { bodyLimit } from "hono/body-limit";
import { inFlightLimit } from "./serve_limits.ts";
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppDeps } from "./deps.ts";
import {
  clusterOf,
  type ClusterSize,
  type DecisionExplanation,
  type RouteDecision,
} from "../routing/router.ts";
import { type AnswerReason, reportRoutingFailure, routeAndReport } from "./route_and_report.ts";
import { routeInputFromTrinoHeaders } from "./trino_headers.ts";

/** Path prefix configured as `http_service.path_prefix` in Envoy. */
export const EXT_AUTHZ_PREFIX = "/ext_authz";

/** Response headers; Envoy's `allowed_upstream_headers` must list them. */
export const ROUTING_HEADERS = {
  /** `small` or `large`: the only header the Envoy routes match on. */
  group: "x-trino-routing-group",
  modelVersion: "x-trino-router-model-version",
  score: "x-trino-router-score",
  /** The decision's reason, or `fallback` / `partial-body` when the router did not decide. */
  reason: "x-trino-router-reason",
  /** Top features of the decision, when the request asked with {@linkcode EXPLAIN_REQUEST_HEADER}. */
  explanation: "x-trino-router-explanation",
} as const;

/** Debug request header: `1` asks for the decision's top features in the response. */
export const EXPLAIN_REQUEST_HEADER = "x-trino-router-explain";

/**
 * An explanation as one header value: `bias=<margin>; <feature>=<value>:<contribution>, …` and
 * `; unfamiliar=<finding>` when the novelty rule fired. Names are URI-encoded (header-safe).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explanationHeader } from "./ext_authz_api.ts";
 * const value = explanationHeader({ modelVersion: "v", available: true, unfamiliar: null,
 *   bias: -2, top: [{ feature: "rows_max_log", value: 6.5, contribution: 3.1 }] });
 * assert.equal(value, "bias=-2; rows_max_log=6.5:+3.1");
 * ```
 */
export function explanationHeader(explanation: DecisionExplanation): string {
  const parts = [`bias=${explanation.bias}`];
  if (!explanation.available) parts.push(`unavailable for ${explanation.modelVersion}`);
  else {
    parts.push(
      explanation.top.map((c) =>
        `${encodeURIComponent(c.feature)}=${c.value}:${
          c.contribution >= 0 ? "+" : ""
        }${c.contribution}`
      ).join(", "),
    );
  }
  if (explanation.unfamiliar) {
    parts.push(`unfamiliar=${encodeURIComponent(explanation.unfamiliar)}`);
  }
  return parts.join("; ");
}

/** Set by Envoy when the body exceeded `with_request_body.max_request_bytes` and was cut. */
const PARTIAL_BODY_HEADER = "x-envoy-auth-partial-body";

/**
 * The ext_authz endpoint as a Hono sub-app.
 *
 * Why `200` + `large` when the router fails, rather than a 5xx: both end on Large (a 5xx through
 * `failure_mode_allow`), but the explicit answer is visible (`x-trino-router-reason: fallback`
 * reaches Trino and the client, and `trino_router_fallbacks_total` counts it), and it does not
 * rely on `failure_mode_allow` being kept on: with it off, a 5xx would reject the user's query.
 * Envoy's own fallback still covers what the router cannot answer for: timeouts, crashes.
 *
 * Why `200` with no routing header for anything but `POST .../v1/statement`: Envoy disables the
 * filter on every other route, so such a request means a changed Envoy config; "no opinion"
 * leaves the route Envoy already chose (the follow-up prefix routes, or Large) untouched, and
 * any status other than 200 or 5xx would be a deny sent to the client.
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
 * import { extAuthzApi } from "./ext_authz_api.ts";
 * const deps: AppDeps = {
 *   config: DEFAULT_CONFIG, metrics: createRouterMetrics(), logger: createLogger(() => {}),
 *   router: createRouter({ models: await modelSetFromBundles([]), clusters: { small: "s", large: "l" } }),
 *   recordDecision: () => {}, storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
 * };
 * // What Envoy sends: the client's POST under the /ext_authz prefix, the SQL as the body.
 * const response = await extAuthzApi(deps).request("/ext_authz/v1/statement", {
 *   method: "POST",
 *   body: "SELECT 1",
 * });
 * assert.equal(response.status, 200);
 * assert.equal(response.headers.get("x-trino-routing-group"), "small");
 * ```
 */
export function extAuthzApi(deps: AppDeps): Hono {
  const { config, metrics, logger } = deps;
  const app = new Hono();

  const answer = (
    c: Context,
    group: ClusterSize,
    reason: AnswerReason,
    decision?: RouteDecision,
  ) => {
    c.header(ROUTING_HEADERS.group, group);
    c.header(ROUTING_HEADERS.reason, reason);
    if (decision) {
      c.header(ROUTING_HEADERS.modelVersion, decision.modelVersion);
      c.header(ROUTING_HEADERS.score, String(decision.modelScore));
    }
    return c.body(null, 200);
  };

  // A caller bypassing Envoy's own limit gets Large, never a 413: any 4xx would deny the query.
  const limit = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: (c) => {
      metrics.observeFallback("oversized-body");
      return answer(c, "large", "partial-body");
    },
  });

  // Too many bytes in flight: Large at once, the body unread.
  const busy = inFlightLimit(deps.inFlight, config.maxBodyBytes, (c) => {
    metrics.observeFallback("busy");
    return answer(c, "large", "fallback");
  });

  app.post("/v1/statement", limit, busy, async (c) => {
    if (c.req.header(PARTIAL_BODY_HEADER) === "true") {
      // Only the SQL's first megabyte arrived: a query that long is heavy by any measure, and a
      // decision on a cut text would be a guess.
      metrics.observeFallback("partial-body");
      logger.info("routed", { route: "ext_authz", decision: "heavy", reason: "partial-body" });
      return answer(c, "large", "partial-body");
    }
    const input = routeInputFromTrinoHeaders(c.req.raw.headers, await c.req.text());
    try {
      const decision = await routeAndReport(deps, input, "ext_authz", undefined, c.req.raw.headers);
      if (c.req.header(EXPLAIN_REQUEST_HEADER) === "1") {
        const explanation = await deps.router.explain(input, decision.modelVersion);
        c.header(ROUTING_HEADERS.explanation, explanationHeader(explanation));
      }
      return answer(c, clusterOf(decision.applied), decision.reason, decision);
    } catch (error) {
      reportRoutingFailure(deps, "ext_authz", error);
      return answer(c, "large", "fallback");
    }
  });
  // Anything else: no opinion (see above).
  app.all("*", (c) => c.body(null, 200));
  return new Hono().route(EXT_AUTHZ_PREFIX, app);
}
