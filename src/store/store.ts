/**
 * The router's shared state behind one interface: routing decisions awaiting their completion
 * event, the template cache of queries known to be heavy, submissions kept for a transparent
 * retry, and shared counters. The in-memory and Redis implementations satisfy the same contract.
 *
 * @module
 */

/**
 * What the router decided for one query, kept until Trino's completion event for that query
 * arrives so that the true label can be joined with the prediction.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DecisionRecord } from "./store.ts";
 * const record: DecisionRecord = {
 *   queryId: "20250811_123456_00012_abcde",
 *   decision: "light",
 *   reason: "model",
 *   modelVersion: "2025-08-11.1",
 *   modelScore: 0.12,
 *   statementKind: "read",
 *   templateFingerprint: "0123456789abcdef",
 *   targetCluster: "small",
 *   decidedAt: "2025-08-11T12:34:56.000Z",
 * };
 * assert(record.decision === "light");
 * ```
 */
export interface DecisionRecord {
  readonly queryId: string;
  readonly decision: "light" | "heavy";
  /** Why: `model`, `template-cache`, `write`, `fallback`, … (the router's vocabulary). */
  readonly reason: string;
  readonly modelVersion: string;
  readonly modelScore: number;
  readonly statementKind: string;
  readonly templateFingerprint: string;
  readonly targetCluster: string;
  /** ISO-8601 instant of the decision. */
  readonly decidedAt: string;
  /** The history epoch whose counts the model read (see `RouteDecision.historyEpoch`). */
  readonly historyEpoch?: number;
  /** Rollout mode the decision was made under (`targetCluster` is the cluster it applied). */
  readonly mode?: string;
  /** The challenger's decision for the same query: recorded, never applied. */
  readonly challenger?: {
    readonly modelVersion: string;
    readonly decision: "light" | "heavy";
    readonly modelScore: number;
    readonly reason: string;
  };
  /**
   * The champion's feature vector (non-zero entries by index), for a sampled share of queries:
   * numbers only, compared offline by the rollout report.
   */
  readonly features?: Readonly<Record<string, number>>;
}

/**
 * A query submission remembered for a transparent retry on the Large cluster. It holds SQL, so
 * it lives only in the store (short TTL) and is never logged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StoredSubmission } from "./store.ts";
 * const submission: StoredSubmission = {
 *   sqlText: "SELECT 1",
 *   headers: { "x-trino-user": "alice", "x-trino-catalog": "tpch" },
 * };
 * assert(submission.headers["x-trino-user"] === "alice");
 * ```
 */
export interface StoredSubmission {
  readonly sqlText: string;
  /** The original request headers, lower-case names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The store's self-reported state, for health endpoints and the `store degraded` metric.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StoreHealth } from "./store.ts";
 * const health: StoreHealth = { backend: "memory", state: "ok", circuit: "closed" };
 * assert(health.state === "ok");
 * ```
 */
export interface StoreHealth {
  readonly backend: "memory" | "redis";
  /**
   * `degraded`: the backend is unreachable or slow; reads answer "unknown" (`undefined`/`false`)
   * and writes are dropped, so routing continues from the model alone.
   */
  readonly state: "ok" | "degraded";
  /** The circuit breaker guarding the backend (`closed` = calls go through). */
  readonly circuit: "closed" | "open" | "half-open";
  /** The last backend error, without any key or value (keys hold query ids, values SQL). */
  readonly lastError?: string;
  /** ISO-8601 instant at which the current state began. */
  readonly since?: string;
  /**
   * Calls answered with "unknown" (read) or dropped (write) instead of reaching the backend,
   * per method, since start.
   */
  readonly fallbacks?: Readonly<Record<string, number>>;
}

/**
 * How long each kind of entry lives, in milliseconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_TTLS } from "./store.ts";
 * assert(DEFAULT_TTLS.decisionMs === 3_600_000);
 * ```
 */
export interface StoreTtls {
  /** A decision waits this long for its completion event (queries longer than this go unjoined). */
  readonly decisionMs: number;
  /** A template that exhausted Small's resources goes straight to Large for this long. */
  readonly templateMs: number;
  /** A submission is kept this long for a retry; only the first seconds of a query matter. */
  readonly submissionMs: number;
  /**
   * A template's or user's history counts live this long after their last completed run, so
   * templates that stopped running do not accumulate forever.
   */
  readonly historyMs: number;
}

/**
 * Default TTLs: 1 h for decisions, 24 h for heavy templates, 10 min for submissions, 30 days
 * for history counts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_TTLS } from "./store.ts";
 * assert(DEFAULT_TTLS.templateMs === 24 * 3_600_000);
 * ```
 */
export const DEFAULT_TTLS: StoreTtls = {
  decisionMs: 60 * 60 * 1000,
  templateMs: 24 * 60 * 60 * 1000,
  submissionMs: 10 * 60 * 1000,
  historyMs: 30 * 24 * 60 * 60 * 1000,
};

/**
 * The router's state. Every method is safe on the request path: it never throws and, when the
 * backend is degraded, answers at once with "unknown" (`undefined`, `false`, `{}`) and drops
 * writes, so that the router decides from the model alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./memory_store.ts";
 * import type { Store } from "./store.ts";
 * const store: Store = new MemoryStore();
 * await store.markTemplateHeavy("0123456789abcdef");
 * assert(await store.isTemplateHeavy("0123456789abcdef"));
 * await store.close();
 * ```
 */
export interface Store {
  /** Remembers a decision until its completion event arrives (TTL `decisionMs`). */
  putDecision(queryId: string, record: DecisionRecord): Promise<void>;
  /** The decision made for a query; `undefined` when unknown, expired or the store is degraded. */
  getDecision(queryId: string): Promise<DecisionRecord | undefined>;
  /**
   * Returns and removes a decision, so that it joins one completion event only (a retried
   * query's second event, or a replayed one, finds nothing).
   */
  takeDecision(queryId: string): Promise<DecisionRecord | undefined>;
  /** Sends the template's next queries straight to Large (TTL `templateMs`). */
  markTemplateHeavy(fingerprint: string): Promise<void>;
  /** True when the template recently exhausted Small; `false` when unknown or degraded. */
  isTemplateHeavy(fingerprint: string): Promise<boolean>;
  /** Keeps a submission for a possible retry on Large (TTL `submissionMs`). */
  putSubmission(queryId: string, value: StoredSubmission): Promise<void>;
  /** Returns and removes a submission, so that a query is retried at most once. */
  takeSubmission(queryId: string): Promise<StoredSubmission | undefined>;
  /**
   * Adds one completed query's history increments (`historyIncrements` of
   * `src/features/history.ts`: per key, field → amount), shared by every replica on the same
   * backend; each key lives `historyMs` after its last addition. Dropped when degraded.
   */
  addHistory(increments: Readonly<Record<string, Readonly<Record<string, number>>>>): Promise<void>;
  /**
   * The history records of `keys`, in order (field → count); `undefined` for a key with no
   * record, and for every key when the store is degraded (the router then scores without
   * history, as for a new template).
   */
  readHistory(keys: readonly string[]): Promise<(Readonly<Record<string, number>> | undefined)[]>;
  /** Adds to a counter shared by all router replicas using the same backend. */
  incrementCounter(name: string, by?: number): Promise<void>;
  /** All shared counters; `{}` when the store is degraded. */
  readCounters(): Promise<Record<string, number>>;
  /**
   * Writes a deployment-wide setting (no TTL), e.g. the rollout mode every replica follows.
   * Settings are always read from the backend, never from a replica's local copy.
   */
  putSetting(name: string, value: string): Promise<void>;
  /** A deployment-wide setting; `undefined` when unset or the store is degraded. */
  getSetting(name: string): Promise<string | undefined>;
  /** The store's current state; cheap and synchronous, for health checks and metrics. */
  health(): StoreHealth;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
