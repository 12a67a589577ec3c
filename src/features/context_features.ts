/**
 * Context features: who sent the query, from where, against which catalog, schema and tables,
 * and when. Time comes from the request (the query id or an explicit timestamp), never from
 * the wall clock, so the same request always gives the same vector.
 *
 * @module
 */

/** Context of a query as the router receives it. */
export interface QueryContext {
  /** Trino query id; its prefix `YYYYMMDD_HHMMSS` is the UTC creation time. */
  readonly queryId?: string;
  /** The Trino user (`X-Trino-User`). */
  readonly user?: string;
  /** The client's source name (`X-Trino-Source`). */
  readonly source?: string;
  /** The session catalog (`X-Trino-Catalog`). */
  readonly catalog?: string;
  /** The session schema (`X-Trino-Schema`). */
  readonly schema?: string;
  /** The client tags (`X-Trino-Client-Tags`). */
  readonly clientTags?: readonly string[];
  /** ISO-8601 submission time, used when the query id carries none. */
  readonly timestamp?: string;
}

/** Categorical context fields, each one-hot encoded against the manifest's vocabulary. */
export const CATEGORY_NAMES = [
  "user",
  "source",
  "catalog",
  "schema",
  "table",
  "client_tag",
] as const;

/** One categorical context field. */
export type CategoryName = typeof CATEGORY_NAMES[number];

/** Numeric context features, in vector order. */
export const TIME_FEATURE_NAMES = ["hour_of_day", "day_of_week"] as const;

/** Value of both time features when the request carries no time: -1, distinct from any hour. */
const UNKNOWN_TIME = -1;

const QUERY_ID_TIME = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})_/;

/**
 * Creation time of a query in epoch milliseconds: the query id's `YYYYMMDD_HHMMSS` prefix (UTC),
 * else the timestamp (ISO-8601 text, or a number of epoch seconds as Trino's event listener
 * writes an `Instant`), else NaN. The one precedence rule for the router and training alike.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queryMillis } from "./context_features.ts";
 * assert.equal(queryMillis({ queryId: "20250811_123456_00012_abcde", timestamp: 0 }), Date.UTC(2025, 7, 11, 12, 34, 56));
 * assert.equal(queryMillis({ queryId: "q1", timestamp: 1.5 }), 1500);
 * assert.ok(Number.isNaN(queryMillis({})));
 * ```
 */
export function queryMillis(
  context: { readonly queryId?: string; readonly timestamp?: string | number },
): number {
  const match = context.queryId ? QUERY_ID_TIME.exec(context.queryId) : null;
  if (match) {
    const [, y, mo, d, h, mi, s] = match.map(Number);
    return Date.UTC(y, mo - 1, d, h, mi, s);
  }
  return instantMillis(context.timestamp);
}

/**
 * Epoch milliseconds of an event timestamp: Jackson writes an `Instant` as decimal epoch
 * seconds, older listeners as ISO-8601 text; NaN when absent or unreadable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { instantMillis } from "./context_features.ts";
 * assert.equal(instantMillis("1970-01-01T00:00:02Z"), instantMillis(2));
 * ```
 */
export function instantMillis(value: number | string | undefined): number {
  if (typeof value === "number") return value * 1000;
  return value ? Date.parse(value) : Number.NaN;
}

/**
 * Hour of day (0–23) and day of week (0 = Sunday) in UTC, from the query id, else the
 * timestamp (see {@linkcode queryMillis}), else -1 for both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queryTime } from "./context_features.ts";
 * const t = queryTime({ queryId: "20250811_123456_00012_abcde" });
 * assert(t.hour_of_day === 12 && t.day_of_week === 1);
 * ```
 */
export function queryTime(
  context: Pick<QueryContext, "queryId" | "timestamp">,
): { hour_of_day: number; day_of_week: number } {
  const millis = queryMillis(context);
  if (!Number.isFinite(millis)) return { hour_of_day: UNKNOWN_TIME, day_of_week: UNKNOWN_TIME };
  const date = new Date(millis);
  return { hour_of_day: date.getUTCHours(), day_of_week: date.getUTCDay() };
}
