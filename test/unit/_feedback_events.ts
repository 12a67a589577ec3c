/**
 * Query-completed events shaped as Trino's HTTP event listener posts them (Jackson with the
 * JDK 8 and Java-time modules: durations and instants as decimal seconds, empty optionals as
 * null), for the feedback tests.
 *
 * @module
 */

import { eventToQueryInput, type QueryCompletedEvent } from "../../src/labels/query_event.ts";
import { decisionRecordKey } from "../../src/sql/join_key.ts";
import type { DecisionRecord } from "../../src/store/store.ts";

/** Options of {@linkcode completedEvent}. */
export interface EventSpec {
  readonly queryId: string;
  readonly sql?: string;
  readonly cpuSeconds?: number;
  readonly peakMemoryBytes?: number;
  /** `[name, type]` of the failure, e.g. `["EXCEEDED_CPU_LIMIT", "INSUFFICIENT_RESOURCES"]`. */
  readonly error?: readonly [string, string];
  /** The cluster's `node.environment`; real events always carry one, tests choose. */
  readonly environment?: string;
}

/** A query-completed event as the listener serialises it. */
export function completedEvent(spec: EventSpec): QueryCompletedEvent & Record<string, unknown> {
  return {
    metadata: {
      queryId: spec.queryId,
      transactionId: null,
      query: spec.sql ?? "SELECT * FROM orders WHERE orderdate = DATE '2025-08-10'",
      queryState: spec.error ? "FAILED" : "FINISHED",
      uri: `http://small-coordinator:8080/v1/query/${spec.queryId}`,
      tables: [{ catalog: "tpch", schema: "sf1", table: "orders" }],
      plan: null,
    },
    statistics: {
      cpuTime: spec.cpuSeconds ?? 0.25,
      wallTime: 1.5,
      queuedTime: 0.001,
      peakUserMemoryBytes: spec.peakMemoryBytes ?? 1_048_576,
      totalRows: 10,
    },
    context: {
      user: "alice",
      source: "trino-cli",
      catalog: "tpch",
      schema: "sf1",
      clientTags: [],
      sessionProperties: {},
      queryType: "SELECT",
      ...(spec.environment ? { environment: spec.environment } : {}),
    },
    ioMetadata: { inputs: [], output: null },
    failureInfo: spec.error
      ? {
        errorCode: { code: 131079, name: spec.error[0], type: spec.error[1], fatal: false },
        failureType: "io.trino.ExceededCpuLimitException",
        failureMessage: "Query exceeded maximum CPU limit",
      }
      : null,
    warnings: [],
    createTime: 1754915696.123,
    executionStartTime: 1754915696.2,
    endTime: 1754915697.7,
  } as unknown as QueryCompletedEvent & Record<string, unknown>;
}

/** A decision record as the router would store it. */
export function routed(queryId: string, overrides: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    queryId,
    decision: "light",
    reason: "model",
    modelVersion: "v1",
    modelScore: 0.2,
    statementKind: "read",
    templateFingerprint: "0123456789abcdef",
    targetCluster: "small",
    decidedAt: "2025-08-11T12:34:56.000Z",
    ...overrides,
  };
}

/** The store key under which the router keeps its decision for the query of `spec`. */
export function recordKey(spec: EventSpec): string {
  return decisionRecordKey(eventToQueryInput(completedEvent(spec)));
}

/**
 * The `POST /v1/route` body for `sql` with the context {@linkcode completedEvent} reports (user,
 * source, session catalog and schema), so that the router's decision joins that event.
 */
export function routeBodyFor(sql: string): string {
  return JSON.stringify({
    user: "alice",
    source: "trino-cli",
    sqlText: sql,
    sessionProperties: { catalog: "tpch", schema: "sf1" },
  });
}
