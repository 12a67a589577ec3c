/**
 * Reads the Trino client protocol's request headers (`X-Trino-User`, `-Source`, `-Catalog`,
 * `-Schema`, `-Session`, `-Client-Tags`) into the router's input; shared by the Envoy ext_authz
 * and Trino Gateway adapters.
 *
 * @module
 */

import type { RouteInput } from "../routing/router.ts";

/** Header names of the Trino client protocol that the router reads. */
export const TRINO_HEADERS = {
  user: "X-Trino-User",
  source: "X-Trino-Source",
  catalog: "X-Trino-Catalog",
  schema: "X-Trino-Schema",
  session: "X-Trino-Session",
  clientTags: "X-Trino-Client-Tags",
  /** `NONE` (or absent) outside an explicit transaction, else the transaction's id. */
  transactionId: "X-Trino-Transaction-Id",
} as const;

/**
 * Submission time Envoy stamps on each new query (`%START_TIME%`), since no Trino query id
 * exists yet: it feeds the hour and weekday features from the request, not the router's clock.
 */
export const SUBMIT_TIME_HEADER = "X-Trino-Router-Submit-Time";

/**
 * Decodes `X-Trino-Session`: `name=value` pairs separated by commas (one or several headers,
 * which `Headers` joins with ", "), each value URL-encoded by the client the way Java's
 * `URLEncoder` does (`+` for a space). A malformed pair is skipped: session properties only
 * inform routing, they must not fail it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrinoSession } from "./trino_headers.ts";
 * const session = parseTrinoSession("query_max_memory=50GB, comment=a+b%2Cc");
 * assert(session.query_max_memory === "50GB" && session.comment === "a b,c");
 * ```
 */
export function parseTrinoSession(header: string | null | undefined): Record<string, string> {
  const properties: Record<string, string> = {};
  if (!header) return properties;
  for (const pair of header.split(",")) {
    const equals = pair.indexOf("=");
    if (equals <= 0) continue;
    const name = pair.slice(0, equals).trim();
    if (!name) continue;
    properties[name] = decodeFormValue(pair.slice(equals + 1).trim());
  }
  return properties;
}

/**
 * Decodes `X-Trino-Client-Tags`: comma-separated tags, trimmed, empty ones dropped (as Trino's
 * own `Splitter.on(',').trimResults().omitEmptyStrings()` does).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseClientTags } from "./trino_headers.ts";
 * assert(parseClientTags(" etl, ,nightly").join("|") === "etl|nightly");
 * ```
 */
export function parseClientTags(header: string | null | undefined): string[] {
  if (!header) return [];
  return header.split(",").map((tag) => tag.trim()).filter((tag) => tag.length > 0);
}

/** The submission time Envoy stamped, if any. */
function stampedTime(headers: Headers): { timestamp?: string } {
  const timestamp = nonEmpty(headers.get(SUBMIT_TIME_HEADER));
  return timestamp === undefined ? {} : { timestamp };
}

/**
 * Builds the router's input from a Trino request's headers and its SQL. Like `POST /v1/route`,
 * a `catalog`/`schema` session property stands in when the dedicated header is absent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { routeInputFromTrinoHeaders } from "./trino_headers.ts";
 * const input = routeInputFromTrinoHeaders(
 *   new Headers({ "X-Trino-User": "alice", "X-Trino-Catalog": "tpch", "X-Trino-Client-Tags": "etl" }),
 *   "SELECT 1",
 * );
 * assert(input.user === "alice" && input.catalog === "tpch" && input.clientTags?.[0] === "etl");
 * ```
 */
export function routeInputFromTrinoHeaders(
  headers: Headers,
  sqlText: string,
): RouteInput {
  const sessionProperties = parseTrinoSession(headers.get(TRINO_HEADERS.session));
  return {
    sqlText,
    user: nonEmpty(headers.get(TRINO_HEADERS.user)),
    source: nonEmpty(headers.get(TRINO_HEADERS.source)),
    catalog: nonEmpty(headers.get(TRINO_HEADERS.catalog)) ?? nonEmpty(sessionProperties.catalog),
    schema: nonEmpty(headers.get(TRINO_HEADERS.schema)) ?? nonEmpty(sessionProperties.schema),
    clientTags: parseClientTags(headers.get(TRINO_HEADERS.clientTags)),
    ...transactionOf(headers.get(TRINO_HEADERS.transactionId)),
    ...stampedTime(headers),
  };
}

/**
 * The transaction a request runs in: `X-Trino-Transaction-Id` unless absent, empty or `NONE`
 * (what clients send outside a transaction). Also reads `POST /v1/route`'s `transactionId`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transactionOf } from "./trino_headers.ts";
 * assert.deepEqual(transactionOf("NONE"), {});
 * assert.deepEqual(transactionOf("6b0e…"), { transactionId: "6b0e…" });
 * ```
 */
export function transactionOf(value: string | null | undefined): { transactionId?: string } {
  const id = nonEmpty(value);
  return id === undefined || id.toUpperCase() === "NONE" ? {} : { transactionId: id };
}

function nonEmpty(value: string | null | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function decodeFormValue(value: string): string {
  try {
    return decodeURIComponent(value.replaceAll("+", " "));
  } catch {
    // A stray '%' is not worth failing a query over; keep the raw text.
    return value;
  }
}
