/**
 * `POST /trino-gateway/route`: the router as Trino Gateway's external routing service
 * (`routingRules.rulesType: EXTERNAL`), speaking the gateway's own JSON contract.
 *
 * The contract, from trinodb/trino-gateway (gateway-ha/src/main/java/io/trino/gateway/ha/):
 * - request body: `router/schema/RoutingGroupExternalBody.java`, built in
 *   `router/ExternalRoutingGroupSelector.java#createRequestBody`; the client's own headers
 *   (minus `Content-Length` and `excludeHeaders`) are the HTTP headers of that POST;
 * - `trinoQueryProperties` (`router/TrinoQueryProperties.java`) and `trinoRequestUser`
 *   (`router/TrinoRequestUser.java`) are only filled with `requestAnalyzerConfig.analyzeRequest:
 *   true`; without them there is no SQL to route on;
 * - response: `router/schema/ExternalRouterResponse.java`, `{routingGroup, errors,
 *   externalHeaders}`. The gateway keeps `routingGroup` even when `errors` is non-empty (unless
 *   `propagateErrors: true`, which turns errors into a 400 for the client: keep it `false`); an
 *   empty group means the gateway's default group; a non-200 or unreadable answer makes it fall
 *   back to the client's own `X-Trino-Routing-Group` header (`handler/RoutingTargetHandler.java`).
 *   So this endpoint always answers 200 with a group, and the group on failure is Large.
 *
 * @module
 */

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { inFlightLimit } from "./serve_limits.ts";
import type { AppDeps } from "./deps.ts";
import { clusterOf, type RouteInput } from "../routing/router.ts";
import { errorName, reportRoutingFailure, routeAndReport } from "./route_and_report.ts";
import { routeInputFromTrinoHeaders } from "./trino_headers.ts";

/** Where the gateway's `rulesExternalConfiguration.urlPath` must point. */
export const TRINO_GATEWAY_PATH = "/trino-gateway/route";

/** The sub-app's mount point; its one route is `/route` below it. */
const TRINO_GATEWAY_PREFIX = TRINO_GATEWAY_PATH.slice(0, TRINO_GATEWAY_PATH.lastIndexOf("/"));

/**
 * `io.trino.gateway.ha.router.TrinoQueryProperties` as the gateway serialises it (Jackson,
 * `Optional` as value or null).
 */
export interface TrinoQueryPropertiesJson {
  readonly body?: string;
  readonly queryType?: string;
  readonly resourceGroupQueryType?: string;
  /** Fully qualified `catalog.schema.table` names. */
  readonly tables?: readonly string[];
  readonly defaultCatalog?: string | null;
  readonly defaultSchema?: string | null;
  readonly catalogs?: readonly string[];
  readonly schemas?: readonly string[];
  readonly catalogSchemas?: readonly string[];
  readonly isNewQuerySubmission?: boolean;
  readonly isQueryParsingSuccessful?: boolean;
  readonly errorMessage?: string | null;
}

/** `io.trino.gateway.ha.router.schema.RoutingGroupExternalBody` as JSON. */
export interface RoutingGroupExternalBody {
  readonly trinoQueryProperties?: TrinoQueryPropertiesJson | null;
  readonly trinoRequestUser?: { readonly user?: string | null; readonly userInfo?: unknown } | null;
  readonly contentType?: string;
  readonly remoteUser?: string | null;
  readonly method?: string;
  readonly requestURI?: string;
  readonly queryString?: string | null;
  readonly session?: unknown;
  readonly remoteAddr?: string;
  readonly remoteHost?: string;
  readonly parameters?: Readonly<Record<string, readonly string[]>>;
}

/** `io.trino.gateway.ha.router.schema.ExternalRouterResponse` as JSON. */
export interface ExternalRouterResponse {
  readonly routingGroup: string;
  readonly errors: string[];
  readonly externalHeaders: Record<string, string>;
}

/**
 * The Trino Gateway external routing endpoint as a Hono sub-app; the group names come from
 * `config.gatewaySmallGroup` / `config.gatewayLargeGroup`.
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
 * import { trinoGatewayApi } from "./trino_gateway_api.ts";
 * const deps: AppDeps = {
 *   config: DEFAULT_CONFIG, metrics: createRouterMetrics(), logger: createLogger(() => {}),
 *   router: createRouter({ models: await modelSetFromBundles([]), clusters: { small: "s", large: "l" } }),
 *   recordDecision: () => {}, storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
 * };
 * const body = JSON.stringify({
 *   method: "POST",
 *   requestURI: "/v1/statement",
 *   trinoQueryProperties: { body: "SELECT 1", isNewQuerySubmission: true },
 * });
 * const response = await trinoGatewayApi(deps).request("/trino-gateway/route", { method: "POST", body });
 * assert.deepEqual(await response.json(), { routingGroup: "small", errors: [], externalHeaders: {} });
 * ```
 */
export function trinoGatewayApi(deps: AppDeps): Hono {
  const { metrics, config } = deps;
  const small = config.gatewaySmallGroup;
  const large = config.gatewayLargeGroup;
  const app = new Hono();

  const answer = (routingGroup: string, errors: string[] = []): ExternalRouterResponse => ({
    routingGroup,
    errors,
    externalHeaders: {},
  });

  // The body is JSON around the SQL (escaping can double it); over the limit, or with too many
  // bytes in flight, the answer is still 200 + large, never a status the gateway would ignore.
  const maxBytes = 2 * config.maxBodyBytes + 64 * 1024;
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      metrics.observeFallback("oversized-body");
      return c.json(answer(large, [`request body exceeds ${maxBytes} bytes`]));
    },
  });
  const busy = inFlightLimit(deps.inFlight, maxBytes, (c) => {
    metrics.observeFallback("busy");
    return c.json(answer(large, ["router busy (request bytes in flight)"]));
  });

  app.post("/route", limit, busy, async (c) => {
    let body: RoutingGroupExternalBody;
    try {
      const parsed: unknown = JSON.parse(await c.req.text());
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new TypeError("not an object");
      }
      body = parsed as RoutingGroupExternalBody;
    } catch {
      metrics.observeFallback("bad-request");
      return c.json(answer(large, ["request body is not a RoutingGroupExternalBody JSON object"]));
    }
    const malformed = malformedField(body);
    if (malformed !== undefined) {
      // A request the gateway would never send: answer, never fail (a non-200 answer makes the
      // gateway honour the client's own X-Trino-Routing-Group).
      metrics.observeFallback("bad-request");
      return c.json(answer(large, [`${malformed} has the wrong type`]));
    }
    const properties = body.trinoQueryProperties ?? undefined;
    const isStatement = (body.method ?? "POST").toUpperCase() === "POST" &&
      (body.requestURI ?? "").endsWith("/v1/statement");
    if (!isStatement || properties?.isNewQuerySubmission === false) {
      // Not a new query (the gateway pins follow-ups by query id itself): the safe default.
      return c.json(answer(large));
    }
    const sqlText = properties?.body;
    if (typeof sqlText !== "string" || sqlText.length === 0) {
      metrics.observeFallback("no-sql");
      return c.json(answer(large, [
        "trinoQueryProperties.body is missing: set requestAnalyzerConfig.analyzeRequest: true",
      ]));
    }
    const input = gatewayRouteInput(c.req.raw.headers, sqlText, body);
    // A routing failure throws into onError below: the one place this adapter answers Large.
    const decision = await routeAndReport(
      deps,
      input,
      "trino_gateway",
      undefined,
      c.req.raw.headers,
    );
    return c.json(answer({ small, large }[clusterOf(decision.applied)]));
  });
  // Whatever goes wrong is still a 200 with the large group, never a status the gateway ignores.
  app.onError((error, c) => {
    reportRoutingFailure(deps, "trino_gateway", error);
    return c.json(answer(large, [`routing failed (${errorName(error)}); sent to ${large}`]));
  });
  return new Hono().route(TRINO_GATEWAY_PREFIX, app);
}

const STRING_FIELDS = ["method", "requestURI", "remoteUser"] as const;
const PROPERTY_STRING_FIELDS = ["body", "defaultCatalog", "defaultSchema"] as const;

/** The first field whose JSON type is not what the gateway sends, if any. */
function malformedField(body: RoutingGroupExternalBody): string | undefined {
  const optionalString = (value: unknown) =>
    value === undefined || value === null || typeof value === "string";
  const isObject = (value: unknown) => typeof value === "object" && !Array.isArray(value);
  for (const field of STRING_FIELDS) {
    if (!optionalString(body[field])) return field;
  }
  const properties: unknown = body.trinoQueryProperties;
  if (properties !== undefined && !isObject(properties)) return "trinoQueryProperties";
  for (const field of PROPERTY_STRING_FIELDS) {
    if (!optionalString(body.trinoQueryProperties?.[field])) {
      return `trinoQueryProperties.${field}`;
    }
  }
  const isNew: unknown = body.trinoQueryProperties?.isNewQuerySubmission;
  if (isNew !== undefined && isNew !== null && typeof isNew !== "boolean") {
    return "trinoQueryProperties.isNewQuerySubmission";
  }
  const user: unknown = body.trinoRequestUser;
  if (user !== undefined && !isObject(user)) return "trinoRequestUser";
  if (!optionalString(body.trinoRequestUser?.user)) return "trinoRequestUser.user";
  return undefined;
}

/**
 * The router's input from a gateway request: the client's `X-Trino-*` headers first (the
 * gateway forwards them as headers), then what the gateway's analyzer found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gatewayRouteInput } from "./trino_gateway_api.ts";
 * const input = gatewayRouteInput(new Headers(), "SELECT 1", {
 *   trinoRequestUser: { user: "bob" },
 *   trinoQueryProperties: { defaultCatalog: "tpch", defaultSchema: "tiny" },
 * });
 * assert(input.user === "bob" && input.catalog === "tpch" && input.schema === "tiny");
 * ```
 */
export function gatewayRouteInput(
  headers: Headers,
  sqlText: string,
  body: RoutingGroupExternalBody,
): RouteInput {
  const input = routeInputFromTrinoHeaders(headers, sqlText);
  const properties = body.trinoQueryProperties ?? undefined;
  return {
    ...input,
    user: input.user ?? body.trinoRequestUser?.user ?? body.remoteUser ?? undefined,
    catalog: input.catalog ?? properties?.defaultCatalog ?? undefined,
    schema: input.schema ?? properties?.defaultSchema ?? undefined,
  };
}
