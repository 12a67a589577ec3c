/**
 * Pure decisions of the transparent retry on Large: what a Trino protocol response says, whether a failed query may be retried, and which headers a retry carries.
 *
 * @module
 */

import { RESOURCE_ERROR_TYPE } from "../labels/query_event.ts";
import { lex } from "../sql/lexer.ts";
import { statementKind } from "../sql/statement_kind.ts";
import type { StoredSubmission } from "../store/store.ts";

/**
 * What the retry logic needs from one Trino client-protocol response (`QueryResults` JSON).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { TrinoResponseSummary } from "./retry_policy.ts";
 * const summary: TrinoResponseSummary = { queryId: "q1", hasData: false, finished: false };
 * assert(!summary.hasData);
 * ```
 */
export interface TrinoResponseSummary {
  readonly queryId: string;
  /** True when the response carries result rows (`data`), i.e. rows reach the client. */
  readonly hasData: boolean;
  /** True when there is no `nextUri`: the client stops here. */
  readonly finished: boolean;
  readonly errorType?: string;
  readonly errorName?: string;
}

// Trino writes `id` first; a partial (truncated) body still shows it.
const LEADING_ID = /^\s*\{\s*"id"\s*:\s*"([A-Za-z0-9_]+)"/;

/**
 * Reads a Trino protocol response body. Returns `undefined` for anything that is not a
 * `QueryResults` document (HTML of the web UI, plain-text 404s, empty bodies), so that such
 * responses pass through untouched. A body cut off by Envoy's buffer limit (`complete: false`)
 * is a large page, hence one with rows: only its `id` is read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeTrinoResponse } from "./retry_policy.ts";
 * const body = '{"id":"q1","nextUri":"http://h/v1/statement/executing/q1/y/1","data":[[1]]}';
 * const summary = summarizeTrinoResponse(body, true);
 * assert(summary?.queryId === "q1" && summary.hasData && !summary.finished);
 * ```
 */
export function summarizeTrinoResponse(
  body: string,
  complete: boolean,
): TrinoResponseSummary | undefined {
  if (!complete) {
    const match = LEADING_ID.exec(body);
    return match ? { queryId: match[1], hasData: true, finished: false } : undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const doc = parsed as Record<string, unknown>;
  if (typeof doc.id !== "string" || doc.id === "") return undefined;
  const error = typeof doc.error === "object" && doc.error !== null
    ? doc.error as Record<string, unknown>
    : undefined;
  return {
    queryId: doc.id,
    hasData: Array.isArray(doc.data) && doc.data.length > 0,
    finished: typeof doc.nextUri !== "string",
    errorType: typeof error?.errorType === "string" ? error.errorType : undefined,
    errorName: typeof error?.errorName === "string" ? error.errorName : undefined,
  };
}

/**
 * Why a response was or was not retried on Large; also the `outcome` label of the retry metric
 * for the cases where a resource error was seen.
 */
export type RetryVerdict =
  /** A resource error before any row: submit to Large. */
  | "retry"
  /** Not a failure, or a failure of another kind: the response passes. */
  | "no-resource-error"
  /** Rows already reached the client: a retry would duplicate them. */
  | "skipped_rows_sent"
  /** No submission known: expired, never stored (store degraded) or already retried once. */
  | "skipped_unknown_query"
  /** Writes, DDL and utility statements are never run twice. */
  | "skipped_not_read";

/**
 * The state a retry decision depends on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RetryState } from "./retry_policy.ts";
 * const state: RetryState = { rowsSent: false, submission: undefined };
 * assert(state.submission === undefined);
 * ```
 */
export interface RetryState {
  /** Rows of this query already went to the client (seen by this replica). */
  readonly rowsSent: boolean;
  /** The query's submission, as taken from the store (absent once retried). */
  readonly submission: StoredSubmission | undefined;
}

/**
 * Decides whether a Small response should be replaced by a retry on Large.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decideRetry } from "./retry_policy.ts";
 * const response = {
 *   queryId: "q1", hasData: false, finished: true, errorType: "INSUFFICIENT_RESOURCES",
 * };
 * const submission = { sqlText: "SELECT count(*) FROM t", headers: {} };
 * assert(decideRetry(response, { rowsSent: false, submission }) === "retry");
 * assert(decideRetry(response, { rowsSent: true, submission }) === "skipped_rows_sent");
 * ```
 */
export function decideRetry(response: TrinoResponseSummary, state: RetryState): RetryVerdict {
  if (response.errorType !== RESOURCE_ERROR_TYPE) return "no-resource-error";
  if (state.rowsSent || response.hasData) return "skipped_rows_sent";
  if (state.submission === undefined) return "skipped_unknown_query";
  if (!isRetryableSql(state.submission.sqlText)) return "skipped_not_read";
  return "retry";
}

/**
 * True for read-only statements only: anything the statement classifier does not recognise
 * as a read (writes, DDL, `SET SESSION`, unknown) could have effects and is never run twice.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRetryableSql } from "./retry_policy.ts";
 * assert(isRetryableSql("WITH a AS (SELECT 1) SELECT * FROM a"));
 * assert(!isRetryableSql("INSERT INTO t SELECT * FROM u"));
 * ```
 */
export function isRetryableSql(sqlText: string): boolean {
  return statementKind(lex(sqlText).tokens) === "read";
}

/**
 * The client-protocol headers a submission keeps for its retry, by name: what Trino needs to
 * run the same read the same way. An allowlist, not the `x-trino-` prefix: the store may be a
 * shared Redis, so secrets (`X-Trino-Extra-Credential`, `Authorization`, cookies), prepared
 * statements (SQL) and the router's own headers are never kept. A query that needs extra
 * credentials is therefore not retried with them (Large answers as it would without).
 */
export const RETRY_HEADER_ALLOWLIST: ReadonlySet<string> = new Set([
  "x-trino-user",
  "x-trino-source",
  "x-trino-catalog",
  "x-trino-schema",
  "x-trino-path",
  "x-trino-time-zone",
  "x-trino-language",
  "x-trino-session",
  "x-trino-role",
  "x-trino-client-info",
  "x-trino-client-tags",
  "x-trino-client-capabilities",
  "x-trino-resource-estimate",
  "x-trino-trace-token",
  "x-trino-encoding",
  "user-agent",
]);

// Where the client addressed Envoy; kept to build the forwarding headers of the retry, never
// sent as such (the retry goes to Large directly).
const ORIGIN_HEADERS = new Set(["host", "x-forwarded-host", "x-forwarded-proto"]);

/**
 * The request headers a submission keeps for its retry: the {@linkcode RETRY_HEADER_ALLOWLIST}
 * and where the client addressed Envoy (`host` from `:authority`, `x-forwarded-host`,
 * `x-forwarded-proto`). Nothing else, credentials least of all: the store may be a shared Redis.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { submissionHeaders } from "./retry_policy.ts";
 * const kept = submissionHeaders({
 *   ":authority": "envoy:8080", "x-trino-user": "alice", authorization: "Basic c2VjcmV0",
 *   "x-trino-routing-group": "small", "x-trino-extra-credential": "token=s3cret",
 * });
 * assert(kept["x-trino-user"] === "alice" && kept.host === "envoy:8080");
 * assert(!("authorization" in kept) && !("x-trino-routing-group" in kept));
 * assert(!("x-trino-extra-credential" in kept));
 * ```
 */
export function submissionHeaders(
  requestHeaders: Readonly<Record<string, string>>,
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(requestHeaders)) {
    const lower = name === ":authority" ? "host" : name.toLowerCase();
    if (RETRY_HEADER_ALLOWLIST.has(lower) || ORIGIN_HEADERS.has(lower)) kept[lower] = value;
  }
  return kept;
}

/**
 * Where clients reach the router's Envoy, when configured rather than taken from the request:
 * Large builds its `nextUri` from this, so the client's next request comes back through Envoy's
 * `/large/` route.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PublicOrigin } from "./retry_policy.ts";
 * const origin: PublicOrigin = { host: "trino.example.com:8080", proto: "http" };
 * assert(origin.proto === "http");
 * ```
 */
export interface PublicOrigin {
  /** `host[:port]` as clients address Envoy. */
  readonly host?: string;
  readonly proto?: "http" | "https";
}

/**
 * Headers of the retry's `POST /v1/statement` to Large: the original client headers plus the
 * forwarding headers that make Large's `nextUri` point at `<origin>/large/v1/...`. The origin is
 * the configured one, else the one the original request carried (what Small saw too).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { largeRetryHeaders } from "./retry_policy.ts";
 * const headers = largeRetryHeaders(
 *   { sqlText: "SELECT 1", headers: { "x-trino-user": "alice", host: "envoy:8080" } },
 *   {},
 * );
 * assert(headers["x-forwarded-prefix"] === "/large");
 * assert(headers["x-forwarded-host"] === "envoy:8080" && !("host" in headers));
 * ```
 */
export function largeRetryHeaders(
  submission: StoredSubmission,
  origin: PublicOrigin = {},
): Record<string, string> {
  const replayed: Record<string, string> = {};
  for (const [name, value] of Object.entries(submission.headers)) {
    if (RETRY_HEADER_ALLOWLIST.has(name)) replayed[name] = value;
  }
  const original = submission.headers;
  const host = origin.host ?? original["x-forwarded-host"] ?? original.host;
  const proto = origin.proto ?? original["x-forwarded-proto"]?.split(",")[0].trim() ?? "http";
  return {
    ...replayed,
    "content-type": "text/plain; charset=utf-8",
    ...(host ? { "x-forwarded-host": host } : {}),
    "x-forwarded-proto": proto,
    "x-forwarded-prefix": "/large",
  };
}
