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
export const UNKNOWN_TIME = -1;

const QUERY_ID_TIME = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})_/;

/**
 * Hour of day (0–23) and day of week (0 = Sunday) in UTC, from the query id, else the
 * timestamp, else {@linkcode UNKNOWN_TIME}.
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
  const match = context.queryId ? QUERY_ID_TIME.exec(context.queryId) : null;
  let millis = Number.NaN;
  if (match) {
    const [, y, mo, d, h, mi, s] = match.map(Number);
    millis = Date.UTC(y, mo - 1, d, h, mi, s);
  } else if (context.timestamp) {
    millis = Date.parse(context.timestamp);
  }
  if (!Number.isFinite(millis)) return { hour_of_day: UNKNOWN_TIME, day_of_week: UNKNOWN_TIME };
  const date = new Date(millis);
  return { hour_of_day: date.getUTCHours(), day_of_week: date.getUTCDay() };
}
