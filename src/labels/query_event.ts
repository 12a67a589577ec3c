/**
 * Trino's query-completed event, as its HTTP event listener posts it, and the one
 * implementation of the label rules (design document section 5.2) shared by training, offline
 * replay and the live feedback loop.
 *
 * @module
 */

import type { QueryInput } from "../features/featurizer.ts";

/**
 * The fields of Trino's `QueryCompletedEvent` JSON that this product reads. A query log is one
 * such object per line (JSON Lines, optionally gzip-compressed): exactly what the HTTP event
 * listener sends, so production logs need no conversion.
 */
export interface QueryCompletedEvent {
  /** The query: its id, text, final state and the tables it named. */
  readonly metadata: {
    readonly queryId: string;
    readonly query?: string;
    readonly queryState?: string;
    readonly tables?: ReadonlyArray<{ catalog?: string; schema?: string; table?: string }>;
  };
  /** What the query cost (the heavy label reads CPU time and peak memory). */
  readonly statistics: {
    readonly cpuTime?: Duration;
    readonly wallTime?: Duration;
    readonly peakUserMemoryBytes?: number;
  };
  /** Who ran the query, in which session, on which cluster. */
  readonly context: {
    readonly user?: string;
    readonly source?: string;
    readonly catalog?: string;
    readonly schema?: string;
    readonly clientTags?: readonly string[];
    readonly queryType?: string;
    /** The cluster's `node.environment`: which cluster ran the query. */
    readonly environment?: string;
    readonly sessionProperties?: Readonly<Record<string, string>>;
  };
  /** What the query read: one entry per table, with the rows and bytes its scans returned. */
  readonly ioMetadata?: {
    readonly inputs?: ReadonlyArray<{
      readonly catalogName?: string;
      readonly schema?: string;
      readonly table?: string;
      readonly physicalInputRows?: number;
      readonly physicalInputBytes?: number;
    }>;
  };
  /** Why the query failed, if it did (resource errors make a query heavy). */
  readonly failureInfo?: {
    readonly errorCode?: { readonly code?: number; readonly name?: string; readonly type?: string };
  };
  /** Epoch seconds (what the HTTP event listener sends) or an ISO-8601 string. */
  readonly createTime?: number | string;
  /** When the query ended, in the same format as `createTime`. */
  readonly endTime?: number | string;
}

/** A duration as Trino serialises it: seconds as a number, or a string like `1.5s` / `PT1.5S`. */
export type Duration = number | string;

/** Thresholds of the heavy label. The design's production values are the defaults. */
export interface LabelThresholds {
  /** CPU seconds at or above which a query is heavy (design: 300). */
  readonly cpuSeconds: number;
  /** Peak user memory in bytes above which a query is heavy (design: 10 GiB). */
  readonly peakMemoryBytes: number;
}

/** The design document's production thresholds. */
export const PRODUCTION_THRESHOLDS: LabelThresholds = {
  cpuSeconds: 300,
  peakMemoryBytes: 10 * 1024 ** 3,
};

/** Trino's error type for resource exhaustion (`EXCEEDED_*_LIMIT`, `CLUSTER_OUT_OF_MEMORY`, …). */
export const RESOURCE_ERROR_TYPE = "INSUFFICIENT_RESOURCES";

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};

/**
 * Seconds in a serialised duration; `NaN` when it cannot be read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { durationSeconds } from "./query_event.ts";
 * assert(durationSeconds(1.5) === 1.5);
 * assert(durationSeconds("250.00ms") === 0.25);
 * assert(durationSeconds("PT1M30S") === 90);
 * ```
 */
export function durationSeconds(value: Duration | undefined): number {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return Number.NaN;
  const airlift = /^\s*([\d.]+)\s*(ns|us|ms|s|m|h|d)\s*$/.exec(value);
  if (airlift) return Number(airlift[1]) * UNIT_SECONDS[airlift[2]];
  const iso = /^PT(?:([\d.]+)H)?(?:([\d.]+)M)?(?:([\d.]+)S)?$/.exec(value);
  if (iso) return Number(iso[1] ?? 0) * 3600 + Number(iso[2] ?? 0) * 60 + Number(iso[3] ?? 0);
  const plain = Number(value);
  return Number.isFinite(plain) ? plain : Number.NaN;
}

/** True when the query failed for lack of resources (matched on the error type, not names). */
export function isResourceFailure(event: QueryCompletedEvent): boolean {
  return event.failureInfo?.errorCode?.type === RESOURCE_ERROR_TYPE;
}

/**
 * Resource errors that say nothing about the query's own weight: a full queue or an
 * administrator's preemption on Small would otherwise send every template seen during a load
 * spike to Large for a day.
 */
export const TEMPLATE_NEUTRAL_ERRORS: ReadonlySet<string> = new Set([
  "QUERY_QUEUE_FULL",
  "ADMINISTRATIVELY_PREEMPTED",
]);

/**
 * The one template-marking rule, for the feedback loop and the ext_proc retry alike: a failure
 * on Small of type `INSUFFICIENT_RESOURCES`, except the {@linkcode TEMPLATE_NEUTRAL_ERRORS},
 * sends the query's template to Large.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { marksTemplateHeavy } from "./query_event.ts";
 * assert.equal(marksTemplateHeavy({ type: "INSUFFICIENT_RESOURCES", name: "EXCEEDED_CPU_LIMIT" }), true);
 * assert.equal(marksTemplateHeavy({ type: "INSUFFICIENT_RESOURCES", name: "QUERY_QUEUE_FULL" }), false);
 * assert.equal(marksTemplateHeavy({ type: "USER_ERROR", name: "SYNTAX_ERROR" }), false);
 * ```
 */
export function marksTemplateHeavy(
  error: { readonly type?: string; readonly name?: string } | undefined,
): boolean {
  return error?.type === RESOURCE_ERROR_TYPE && !TEMPLATE_NEUTRAL_ERRORS.has(error.name ?? "");
}

/** The outcome of labelling one event. */
export type Label =
  | {
    readonly heavy: boolean;
    readonly because: "cpu" | "memory" | "resource-error" | "write" | "light";
  }
  | { readonly heavy: null; readonly because: "unrelated-failure" };

/**
 * Labels a completed query: heavy on CPU, memory, a resource failure, or being a write/DDL
 * (by its statement kind); `heavy: null` for failures unrelated to resources, which the design
 * says to drop from training data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { labelEvent, PRODUCTION_THRESHOLDS } from "./query_event.ts";
 * const event = {
 *   metadata: { queryId: "q1", queryState: "FINISHED" },
 *   statistics: { cpuTime: 301, peakUserMemoryBytes: 0 },
 *   context: {},
 * };
 * assert(labelEvent(event, PRODUCTION_THRESHOLDS, "read").because === "cpu");
 * ```
 */
export function labelEvent(
  event: QueryCompletedEvent,
  thresholds: LabelThresholds,
  statementKind: "read" | "write" | "ddl" | "utility",
): Label {
  if (isResourceFailure(event)) return { heavy: true, because: "resource-error" };
  if (event.failureInfo?.errorCode) return { heavy: null, because: "unrelated-failure" };
  if (statementKind === "write" || statementKind === "ddl") {
    return { heavy: true, because: "write" };
  }
  if (durationSeconds(event.statistics.cpuTime) >= thresholds.cpuSeconds) {
    return { heavy: true, because: "cpu" };
  }
  if ((event.statistics.peakUserMemoryBytes ?? 0) > thresholds.peakMemoryBytes) {
    return { heavy: true, because: "memory" };
  }
  return { heavy: false, because: "light" };
}

/**
 * The featurizer input of a logged query: the same mapping the router applies to a live request,
 * so a logged query and a live one featurize identically.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventToQueryInput } from "./query_event.ts";
 * const input = eventToQueryInput({
 *   metadata: { queryId: "20250811_123456_00012_abcde", query: "SELECT 1" },
 *   statistics: {},
 *   context: { user: "alice", catalog: "tpch", schema: "tiny" },
 * });
 * assert(input.sqlText === "SELECT 1" && input.user === "alice");
 * ```
 */
export function eventToQueryInput(event: QueryCompletedEvent): QueryInput {
  return {
    sqlText: event.metadata.query ?? "",
    queryId: event.metadata.queryId,
    user: event.context.user,
    source: event.context.source,
    catalog: event.context.catalog,
    schema: event.context.schema,
    clientTags: event.context.clientTags,
    timestamp: typeof event.createTime === "number"
      ? new Date(event.createTime * 1000).toISOString()
      : event.createTime,
  };
}
