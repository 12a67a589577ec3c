/**
 * Validation of the `POST /v1/route` body (design document section 4.2) into a router input.
 *
 * @module
 */

import type { RouteInput } from "../routing/router.ts";
import { transactionOf } from "./trino_headers.ts";

/** Either the router input or what is wrong with the body (and its queryId, if readable). */
export type ParsedRouteRequest =
  | { readonly ok: true; readonly input: RouteInput }
  | { readonly ok: false; readonly error: string; readonly queryId?: string };

const OPTIONAL_STRINGS = ["queryId", "user", "source", "timestamp", "transactionId"] as const;

/**
 * Parses and checks a request body. Every problem is named, field by field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRouteRequest } from "./route_request.ts";
 * const bad = parseRouteRequest('{"queryId": "q1", "sqlText": 42}');
 * assert(!bad.ok && bad.error === "`sqlText` must be a string" && bad.queryId === "q1");
 * const good = parseRouteRequest('{"sqlText": "SELECT 1", "sessionProperties": {"catalog": "hive"}}');
 * assert(good.ok && good.input.catalog === "hive");
 * ```
 */
export function parseRouteRequest(text: string): ParsedRouteRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, error: "request body is not valid JSON" };
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, error: "request body must be a JSON object" };
  }
  const b = body as Record<string, unknown>;
  const queryId = typeof b.queryId === "string" ? b.queryId : undefined;
  const problem = (error: string): ParsedRouteRequest => ({ ok: false, error, queryId });
  if (b.sqlText === undefined) return problem("`sqlText` is required");
  if (typeof b.sqlText !== "string") return problem("`sqlText` must be a string");
  for (const field of OPTIONAL_STRINGS) {
    if (b[field] !== undefined && typeof b[field] !== "string") {
      return problem(`\`${field}\` must be a string`);
    }
  }
  const session = b.sessionProperties ?? {};
  if (typeof session !== "object" || session === null || Array.isArray(session)) {
    return problem("`sessionProperties` must be an object of strings");
  }
  for (const [key, value] of Object.entries(session)) {
    if (typeof value !== "string") return problem(`\`sessionProperties.${key}\` must be a string`);
  }
  const tags = b.clientTags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) {
    return problem("`clientTags` must be an array of strings");
  }
  const properties = session as Record<string, string>;
  return {
    ok: true,
    input: {
      sqlText: b.sqlText,
      queryId,
      user: b.user as string | undefined,
      source: b.source as string | undefined,
      catalog: properties.catalog,
      schema: properties.schema,
      clientTags: tags as string[],
      timestamp: b.timestamp as string | undefined,
      ...transactionOf(b.transactionId as string | undefined),
    },
  };
}
